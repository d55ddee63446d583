#include "common/strings.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace llorch {

size_t EditDistance(absl::string_view a, absl::string_view b) {
  // Three rolling rows of the optimal-string-alignment table.
  std::vector<size_t> before(b.size() + 1), previous(b.size() + 1), current(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    const char ai = absl::ascii_tolower(a[i - 1]);
    for (size_t j = 1; j <= b.size(); ++j) {
      const char bj = absl::ascii_tolower(b[j - 1]);
      size_t best =
          std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ai == bj ? 0 : 1)});
      if (i > 1 && j > 1 && ai == absl::ascii_tolower(b[j - 2]) &&
          absl::ascii_tolower(a[i - 2]) == bj) {
        best = std::min(best, before[j - 2] + 1);
      }
      current[j] = best;
    }
    std::swap(before, previous);
    std::swap(previous, current);
  }
  return previous[b.size()];
}

std::vector<std::string> ClosestMatches(absl::string_view word,
                                        const std::vector<std::string>& candidates, size_t max) {
  const size_t limit = std::max<size_t>(1, word.size() / 3);
  std::vector<std::pair<size_t, size_t>> close;  // (distance, index in candidates)
  for (size_t i = 0; i < candidates.size(); ++i) {
    const size_t distance = EditDistance(word, candidates[i]);
    if (distance <= limit) close.emplace_back(distance, i);
  }
  std::stable_sort(close.begin(), close.end());
  std::vector<std::string> matches;
  for (size_t i = 0; i < close.size() && i < max; ++i)
    matches.push_back(candidates[close[i].second]);
  return matches;
}

std::string ClosestMatch(absl::string_view word, const std::vector<std::string>& candidates) {
  std::vector<std::string> matches = ClosestMatches(word, candidates, 1);
  return matches.empty() ? "" : matches.front();
}

std::string DidYouMean(absl::string_view word, const std::vector<std::string>& candidates) {
  std::string match = ClosestMatch(word, candidates);
  return match.empty() ? "" : absl::StrCat(" (did you mean '", match, "'?)");
}

size_t DecodeUtf8(absl::string_view text, size_t i, char32_t* code_point) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  size_t length = 0;
  char32_t value = 0;
  unsigned char low = 0x80, high = 0xbf;  // allowed range of the second byte
  if (lead < 0x80) {
    *code_point = lead;
    return 1;
  } else if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
    value = lead & 0x1f;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    value = lead & 0x0f;
    if (lead == 0xe0) low = 0xa0;   // overlong
    if (lead == 0xed) high = 0x9f;  // surrogates
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    value = lead & 0x07;
    if (lead == 0xf0) low = 0x90;   // overlong
    if (lead == 0xf4) high = 0x8f;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    const unsigned char c = byte(i + k);
    if (k == 1 ? (c < low || c > high) : (c < 0x80 || c > 0xbf)) return 0;
    value = (value << 6) | (c & 0x3f);
  }
  *code_point = value;
  return length;
}

bool IsValidUtf8(absl::string_view text) {
  char32_t code_point;
  for (size_t i = 0; i < text.size();) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {  // ASCII, nearly every byte sent
      ++i;
      continue;
    }
    const size_t length = DecodeUtf8(text, i, &code_point);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

std::string ToValidUtf8(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  char32_t code_point;
  for (size_t i = 0; i < text.size();) {
    const size_t length = DecodeUtf8(text, i, &code_point);
    if (length > 0) {
      out.append(text.data() + i, length);
      i += length;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

std::string QuoteEscaped(absl::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", static_cast<unsigned char>(c));
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

}  // namespace llorch
