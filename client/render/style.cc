#include "client/render/style.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace llorch {

Style Style::For(std::FILE* stream, absl::string_view mode) {
  if (mode == "always") return Style(true);
  if (mode == "never") return Style(false);
  return Style(isatty(fileno(stream)) != 0);
}

size_t TerminalColumns(std::FILE* stream) {
  if (const char* columns = std::getenv("COLUMNS"); columns != nullptr && *columns != '\0') {
    char* end = nullptr;
    const long value = std::strtol(columns, &end, 10);
    if (*end == '\0' && value > 0) return static_cast<size_t>(value);
  }
  winsize size{};
  if (isatty(fileno(stream)) && ioctl(fileno(stream), TIOCGWINSZ, &size) == 0) return size.ws_col;
  return 0;
}

std::string Style::Paint(absl::string_view text, Color color) const {
  if (!enabled_ || color == Color::kNone) return std::string(text);
  const char* code = "";
  switch (color) {
    case Color::kNone:
      break;
    case Color::kBold:
      code = "1";
      break;
    case Color::kDim:
      code = "2";
      break;
    case Color::kRed:
      code = "31";
      break;
    case Color::kGreen:
      code = "32";
      break;
    case Color::kYellow:
      code = "33";
      break;
    case Color::kBlue:
      code = "34";
      break;
    case Color::kCyan:
      code = "36";
      break;
  }
  return absl::StrCat("\x1b[", code, "m", text, "\x1b[0m");
}

}  // namespace llorch
