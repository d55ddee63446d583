// Terminal styling: ANSI colours when, and only when, they are wanted.
//
// Colour is off with --no-color, with NO_COLOR set (https://no-color.org), with
// `client.color = "never"`, or when the stream is not a terminal; `color = "always"` forces it.
#ifndef LLORCH_CLIENT_RENDER_STYLE_H_
#define LLORCH_CLIENT_RENDER_STYLE_H_

#include <cstdio>
#include <string>

#include "absl/strings/string_view.h"

namespace llorch {

enum class Color { kNone, kBold, kDim, kRed, kGreen, kYellow, kBlue, kCyan };

class Style {
 public:
  Style() = default;
  explicit Style(bool enabled) : enabled_(enabled) {}

  // Decides for `stream` from the configured mode: "auto", "always" or "never".
  static Style For(std::FILE* stream, absl::string_view mode);

  bool enabled() const { return enabled_; }
  // `text` wrapped in the colour's escape codes, or unchanged when disabled.
  std::string Paint(absl::string_view text, Color color) const;

 private:
  bool enabled_ = false;
};

}  // namespace llorch

#endif  // LLORCH_CLIENT_RENDER_STYLE_H_
