// Logging setup shared by both binaries: spdlog to stderr, level by name, and the agent's
// structured records (LogRecord), as text or JSON.
//
// Text: "2026-12-04T12:00:00.123+0000 info message" on a terminal or file; under systemd (stderr
// is the journal, JOURNAL_STREAM names it) "<6>message": the journal stamps the time itself and
// takes the level from the "<N>" prefix (sd-daemon(3)); no colours unless stderr is a terminal.
// JSON: one object a line, {"time":..., "level":..., "msg":...}, and for a LogRecord its fields
// in place of "msg" ({"time":..., "level":"info", "event":"operation.end", "id":"op-...", ...}).
#ifndef LLORCH_COMMON_LOGGING_H_
#define LLORCH_COMMON_LOGGING_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace llorch {

// Sends the default spdlog logger to stderr at `level` (trace, debug, info, warn, error, off) in
// `format` (text or json). Returns InvalidArgument for an unknown level or format name.
absl::Status SetupLogging(absl::string_view level, absl::string_view format = "text");

enum class LogLevel { kDebug, kInfo, kWarn, kError };
using LogFields = std::vector<std::pair<std::string, std::string>>;

// One structured record: `event` (e.g. "operation.start") and its fields, in order. Text:
// "operation.start id=op-1a2b3c4d kind=model.download target=\"a b\"" (logfmt: values quoted when
// they hold a space, '=' or '"'); JSON: each field a string member.
void LogRecord(LogLevel level, absl::string_view event, const LogFields& fields);

// `fields` as LogRecord writes them in text (exposed for tests).
std::string FormatLogfmt(absl::string_view event, const LogFields& fields);

}  // namespace llorch

#endif  // LLORCH_COMMON_LOGGING_H_
