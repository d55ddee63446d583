#include "common/logging.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/strings.h"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace llorch {
namespace {

// A JSON record's fields travel in the message, marked by this first byte, so that the
// formatter writes them as members instead of one "msg" string.
constexpr char kFieldsMark = '\x1e';

// {"time":"2026-12-04T12:00:00.123Z","level":"info","msg":"..."} (or the record's fields).
class JsonFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const absl::string_view payload(msg.payload.data(), msg.payload.size());
    const absl::Time time = absl::FromChrono(msg.time);
    std::string line = absl::StrCat(
        "{\"time\":\"", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone()),
        "\",\"level\":\"", spdlog::level::to_string_view(msg.level).data(), "\",");
    if (!payload.empty() && payload[0] == kFieldsMark) {
      absl::StrAppend(&line, payload.substr(1), "}\n");
    } else {
      absl::StrAppend(&line, "\"msg\":", QuoteEscaped(payload), "}\n");
    }
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

// "<N>", the syslog priority the journal reads from the start of a line.
class JournalPriority : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const char* priority = "<6>";
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug:
        priority = "<7>";
        break;
      case spdlog::level::warn:
        priority = "<4>";
        break;
      case spdlog::level::err:
        priority = "<3>";
        break;
      case spdlog::level::critical:
        priority = "<2>";
        break;
      default:
        break;
    }
    dest.append(priority, priority + 3);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JournalPriority>();
  }
};

// True when stderr is the journal: systemd sets JOURNAL_STREAM to "DEV:INODE" of that stream.
bool StderrIsJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  std::vector<absl::string_view> parts = absl::StrSplit(stream, ':');
  unsigned long long device = 0, inode = 0;
  struct stat info {};
  return parts.size() == 2 && absl::SimpleAtoi(parts[0], &device) &&
         absl::SimpleAtoi(parts[1], &inode) && fstat(STDERR_FILENO, &info) == 0 &&
         info.st_dev == device && info.st_ino == inode;
}

std::atomic<bool> json_format{false};  // set once at start-up, read by every record

spdlog::level::level_enum ToSpdlog(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
    case LogLevel::kInfo:
      break;
  }
  return spdlog::level::info;
}

}  // namespace

absl::Status SetupLogging(absl::string_view level, absl::string_view format) {
  spdlog::level::level_enum parsed = spdlog::level::from_str(std::string(level));
  // from_str maps unknown names to "off"; only accept "off" when it was asked for.
  if (parsed == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown log level '", level, "' (use trace, debug, info, warn, error or off)"));
  }
  if (format != "text" && format != "json") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown log format '", format, "' (use text or json)"));
  }
  std::shared_ptr<spdlog::logger> logger = spdlog::get("pool");
  if (!logger) logger = spdlog::stderr_color_mt("pool");
  json_format = format == "json";
  if (json_format) {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else if (StderrIsJournal()) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<JournalPriority>('*').set_pattern("%*%v");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  }
  logger->set_level(parsed);
  spdlog::set_default_logger(std::move(logger));
  return absl::OkStatus();
}

std::string FormatLogfmt(absl::string_view event, const LogFields& fields) {
  std::string line(event);
  for (const auto& [key, value] : fields) {
    const bool quote = value.empty() || value.find_first_of(" =\"\\\n\t") != std::string::npos;
    absl::StrAppend(&line, " ", key, "=", quote ? QuoteEscaped(value) : value);
  }
  return line;
}

void LogRecord(LogLevel level, absl::string_view event, const LogFields& fields) {
  if (!json_format) {
    spdlog::log(ToSpdlog(level), "{}", FormatLogfmt(event, fields));
    return;
  }
  std::string members =
      absl::StrCat(std::string(1, kFieldsMark), "\"event\":", QuoteEscaped(event));
  for (const auto& [key, value] : fields) {
    absl::StrAppend(&members, ",", QuoteEscaped(key), ":", QuoteEscaped(value));
  }
  spdlog::log(ToSpdlog(level), "{}", members);
}

}  // namespace llorch
