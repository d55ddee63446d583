// A plain-text table: columns padded to their widest cell, colour applied after padding so
// escape codes never break the alignment.
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

  void AddRow(std::vector<Cell> row);

  // The table, one line per row, header first, no trailing spaces.
  std::string Render(const Style& style) const;

 private:
  std::vector<std::string> headers_;
  std::vector<Align> align_;
  std::vector<std::vector<Cell>> rows_;
};

// Width of `text` in terminal columns (UTF-8 code points; no wide-character support needed here).
size_t DisplayWidth(const std::string& text);

}  // namespace llorch

#endif  // LLORCH_CLIENT_RENDER_TABLE_H_
