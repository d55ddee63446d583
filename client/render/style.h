// Terminal styling: ANSI colours when, and only when, they are wanted, and the layout of tables.
//
// Colour is off with --no-color, with NO_COLOR set (https://no-color.org), with
// `client.color = "never"`, or when the stream is not a terminal; `color = "always"` forces it.
// Tables fit in columns(): the COLUMNS environment variable when set, else the terminal's width
// (TIOCGWINSZ) when the stream is one, else no limit (a pipe gets every cell whole).
#ifndef LLORCH_CLIENT_RENDER_STYLE_H_
#define LLORCH_CLIENT_RENDER_STYLE_H_

#include <cstddef>
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

  // The same style with tables at most `columns` wide (0: no limit), with or without headers.
  Style WithLayout(size_t columns, bool headers) const {
    Style style = *this;
    style.columns_ = columns;
    style.headers_ = headers;
    return style;
  }

  bool enabled() const { return enabled_; }
  // The widest a line of a table may be; 0 = no limit.
  size_t columns() const { return columns_; }
  // False with --no-headers: tables without their header line.
  bool headers() const { return headers_; }
  // `text` wrapped in the colour's escape codes, or unchanged when disabled.
  std::string Paint(absl::string_view text, Color color) const;

 private:
  bool enabled_ = false;
  size_t columns_ = 0;
  bool headers_ = true;
};

// The width tables on `stream` fit in: COLUMNS if set to a number, else the terminal's width if
// `stream` is a terminal, else 0 (no limit).
size_t TerminalColumns(std::FILE* stream);

}  // namespace llorch

#endif  // LLORCH_CLIENT_RENDER_STYLE_H_
