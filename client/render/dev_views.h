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

// `dev setup`: one line per step, "[✓] name: already done: detail" ([+] will do, [✓] done, [-]
// skipped, [✗] failed), the command it runs, further lines, the error and the retry command
// indented below; then a summary line.
std::string RenderSetup(const pool::v1::DevSetupResult& result, const Style& style);

// `dev check-config`: the files in layer order, each "[✓]", "[!]" (warnings) or "[✗]" (errors)
// with its layer and whether it exists; then every finding as compilers print them,
// "FILE:LINE: error: MESSAGE (fix: FIX)" ("env NAME: ...", "flag --x: ...", "default: ...");
// then the effective values (KEY VALUE ORIGIN, ORIGIN "FILE:LINE" for a file); then a summary.
std::string RenderCheckConfig(const pool::v1::CheckConfigResponse& response, const Style& style);

}  // namespace llorch

#endif  // LLORCH_CLIENT_RENDER_DEV_VIEWS_H_
