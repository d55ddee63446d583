#include "client/render/table.h"

#include <algorithm>

namespace llorch {

size_t DisplayWidth(const std::string& text) {
  size_t width = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++width;  // count every byte that starts a code point
  }
  return width;
}

Table::Table(std::vector<std::string> headers, std::vector<size_t> right_aligned)
    : headers_(std::move(headers)), align_(headers_.size(), Align::kLeft) {
  for (size_t column : right_aligned) {
    if (column < align_.size()) align_[column] = Align::kRight;
  }
}

void Table::AddRow(std::vector<Cell> row) {
  row.resize(headers_.size());
  rows_.push_back(std::move(row));
}

std::string Table::Render(const Style& style) const {
  std::vector<size_t> widths(headers_.size());
  for (size_t i = 0; i < headers_.size(); ++i) {
    widths[i] = DisplayWidth(headers_[i]);
    for (const auto& row : rows_) widths[i] = std::max(widths[i], DisplayWidth(row[i].text));
  }
  std::string out;
  auto append_line = [&](const std::vector<Cell>& cells) {
    std::string line;
    for (size_t i = 0; i < cells.size(); ++i) {
      const bool last = i + 1 == cells.size();
      const std::string pad(widths[i] - DisplayWidth(cells[i].text), ' ');
      if (align_[i] == Align::kRight) line += pad;
      line += style.Paint(cells[i].text, cells[i].color);
      if (align_[i] == Align::kLeft && !last) line += pad;
      if (!last) line += "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  };
  std::vector<Cell> header_cells;
  for (const std::string& header : headers_) header_cells.emplace_back(header, Color::kBold);
  append_line(header_cells);
  for (const auto& row : rows_) append_line(row);
  return out;
}

}  // namespace llorch
