// What DevService accepts, as dev.proto says, checked before anything runs: the rules of every
// request (agent/rpc/request_rules.h), then RunDoctor's names, each one of DoctorCheckNames()
// (an unknown one is INVALID_ARGUMENT, reason INVALID_REQUEST, field "names[i]", with the
// closest names in ErrorHint.metadata "suggestions"); RunSetup's skip_steps the same way
// against SetupStepNames() (field "skip_steps[i]") and its model_id, when given, of the form of
// a model id (field "model_id"). CheckConfig takes nothing more.
#ifndef LLORCH_AGENT_DEV_DEV_REQUESTS_H_
#define LLORCH_AGENT_DEV_DEV_REQUESTS_H_

#include "absl/status/status.h"
#include "llorch/pool/v1/dev.pb.h"

namespace llorch {

absl::Status Validate(const pool::v1::RunDoctorRequest& request);
absl::Status Validate(const pool::v1::RunSetupRequest& request);
absl::Status Validate(const pool::v1::CheckConfigRequest& request);

}  // namespace llorch

#endif  // LLORCH_AGENT_DEV_DEV_REQUESTS_H_
