// A plain-text table: columns padded to their widest cell, colour applied after padding so
// escape codes never break the alignment.
//
// A table fits in the style's columns() (the terminal's width; client/render/style.h): when its
// lines would be wider, the widest columns give up width first, down to their header's width
// (at least 8), and the cells cut end in "…". Nothing is cut with no limit (a pipe, -o wide).
// With --no-headers (Style::headers() false) the header line is left out.
#ifndef LLORCH_CLIENT_RENDER_TABLE_H_
#define LLORCH_CLIENT_RENDER_TABLE_H_

#include <string>
#include <vector>

#include "client/render/style.h"

namespace llorch {

struct Cell {
  std::string text;
  Color color = Color::kNone;
  Cell(std::string t = "", Color c = Color::kNone) : text(std::move(t)), color(c) {}
  Cell(const char* t, Color c = Color::kNone) : text(t), color(c) {}
};

class Table {
 public:
  enum class Align { kLeft, kRight };

  // One header per column; `right_aligned` names the columns (by index) aligned right.
  explicit Table(std::vector<std::string> headers, std::vector<size_t> right_aligned = {});

  // A key/value view ("name  value" lines): two columns and no header line.
  static Table Facts();

  void AddRow(std::vector<Cell> row);

  // The table, one line per row, header first, no trailing spaces.
  std::string Render(const Style& style) const;

 private:
  // The widths of the columns: each its widest cell, then narrowed to fit `columns` (0 = no
  // limit).
  std::vector<size_t> Widths(size_t columns, bool with_headers) const;

  std::vector<std::string> headers_;
  std::vector<Align> align_;
  std::vector<std::vector<Cell>> rows_;
  bool show_headers_ = true;
};

// Width of `text` in terminal columns (UTF-8 code points; no wide-character support needed here).
size_t DisplayWidth(const std::string& text);

// `text` cut to at most `width` columns, ending in "…" when anything was cut.
std::string Truncate(const std::string& text, size_t width);

// `text` wrapped at spaces into lines of at most `width` columns (0 = no limit), the lines after
// the first starting with `indent`; a word longer than a line stays whole. No trailing newline.
std::string Wrap(const std::string& text, size_t width, const std::string& indent);

}  // namespace llorch

#endif  // LLORCH_CLIENT_RENDER_TABLE_H_
