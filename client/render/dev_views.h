// Renderings of DevService responses for `llorch-pool dev ...`.
#ifndef LLORCH_CLIENT_RENDER_DEV_VIEWS_H_
#define LLORCH_CLIENT_RENDER_DEV_VIEWS_H_

#include <string>

#include "client/render/style.h"
#include "llorch/pool/v1/dev.pb.h"

namespace llorch {

// `dev doctor` as people know it from `flutter doctor`: one line per check, "[✓] name: detail"
// ([!] warning, [✗] failure, [-] skipped; "(optional)" after an optional check that is not OK),
// its further lines and the fix indented below, then a summary line.
std::string RenderDoctor(const pool::v1::RunDoctorResponse& response, const Style& style);

}  // namespace llorch

#endif  // LLORCH_CLIENT_RENDER_DEV_VIEWS_H_
