#include "client/render/table.h"

#include <algorithm>
#include <numeric>

namespace llorch {
namespace {

constexpr size_t kGap = 2;       // spaces between columns
constexpr size_t kMinWidth = 8;  // a column is not narrowed below this (or its header)

}  // namespace

size_t DisplayWidth(const std::string& text) {
  size_t width = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++width;  // count every byte that starts a code point
  }
  return width;
}

std::string Truncate(const std::string& text, size_t width) {
  if (DisplayWidth(text) <= width) return text;
  if (width == 0) return "";
  // Keep width - 1 code points, then the ellipsis.
  size_t kept = 0;
  size_t end = 0;
  for (; end < text.size(); ++end) {
    if ((static_cast<unsigned char>(text[end]) & 0xC0) != 0x80) {
      if (kept == width - 1) break;
      ++kept;
    }
  }
  return text.substr(0, end) + "…";
}

std::string Wrap(const std::string& text, size_t width, const std::string& indent) {
  if (width == 0 || DisplayWidth(text) <= width) return text;
  std::string out;
  size_t line_width = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    const std::string word = text.substr(start, end - start);
    const size_t word_width = DisplayWidth(word);
    if (line_width > 0 && line_width + 1 + word_width > width) {
      out += "\n" + indent;
      line_width = DisplayWidth(indent);
    } else if (line_width > 0) {
      out += ' ';
      ++line_width;
    }
    out += word;
    line_width += word_width;
    start = end + 1;
  }
  return out;
}

Table::Table(std::vector<std::string> headers, std::vector<size_t> right_aligned)
    : headers_(std::move(headers)), align_(headers_.size(), Align::kLeft) {
  for (size_t column : right_aligned) {
    if (column < align_.size()) align_[column] = Align::kRight;
  }
}

Table Table::Facts() {
  Table table({"", ""});
  table.show_headers_ = false;
  return table;
}

void Table::AddRow(std::vector<Cell> row) {
  row.resize(headers_.size());
  rows_.push_back(std::move(row));
}

std::vector<size_t> Table::Widths(size_t columns, bool with_headers) const {
  const size_t count = headers_.size();
  std::vector<size_t> widths(count);
  std::vector<size_t> minimum(count);
  for (size_t i = 0; i < count; ++i) {
    if (with_headers) widths[i] = DisplayWidth(headers_[i]);
    for (const auto& row : rows_) widths[i] = std::max(widths[i], DisplayWidth(row[i].text));
    minimum[i] = std::min(widths[i], std::max(kMinWidth, DisplayWidth(headers_[i])));
  }
  if (columns == 0 || count == 0) return widths;
  const size_t gaps = kGap * (count - 1);
  size_t total = std::accumulate(widths.begin(), widths.end(), gaps);
  // The widest column that can still give, one column of width at a time.
  while (total > columns) {
    size_t widest = count;
    for (size_t i = 0; i < count; ++i) {
      if (widths[i] > minimum[i] && (widest == count || widths[i] > widths[widest])) widest = i;
    }
    if (widest == count) break;  // every column at its minimum: the lines stay wider
    --widths[widest];
    --total;
  }
  return widths;
}

std::string Table::Render(const Style& style) const {
  const bool with_headers = show_headers_ && style.headers();
  const std::vector<size_t> widths = Widths(style.columns(), with_headers);
  std::string out;
  auto append_line = [&](const std::vector<Cell>& cells) {
    std::string line;
    for (size_t i = 0; i < cells.size(); ++i) {
      const bool last = i + 1 == cells.size();
      const std::string text = Truncate(cells[i].text, widths[i]);
      const std::string pad(widths[i] - DisplayWidth(text), ' ');
      if (align_[i] == Align::kRight) line += pad;
      line += style.Paint(text, cells[i].color);
      if (align_[i] == Align::kLeft && !last) line += pad;
      if (!last) line += std::string(kGap, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  };
  if (with_headers) {
    std::vector<Cell> header_cells;
    for (const std::string& header : headers_) header_cells.emplace_back(header, Color::kBold);
    append_line(header_cells);
  }
  for (const auto& row : rows_) append_line(row);
  return out;
}

}  // namespace llorch
