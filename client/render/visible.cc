#include "client/render/visible.h"

#include "absl/strings/str_format.h"
#include "common/message_strings.h"
#include "common/strings.h"

namespace llorch {
namespace {

// True for the code points above ASCII that a terminal acts on or that reorder the display.
bool IsHiddenControl(char32_t c) {
  return (c >= 0x80 && c <= 0x9f) || c == 0x2028 || c == 0x2029 || c == 0x061c || c == 0x200e ||
         c == 0x200f || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

std::string Escape(absl::string_view text, bool keep_lines) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    char32_t c = 0;
    const size_t length = DecodeUtf8(text, i, &c);
    if (length == 0) {
      absl::StrAppendFormat(&out, "\\x%02x", static_cast<unsigned char>(text[i]));
      ++i;
      continue;
    }
    if (c == '\n' || c == '\t') {
      out += keep_lines ? std::string(1, static_cast<char>(c)) : (c == '\n' ? "\\n" : "\\t");
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7f) {
      absl::StrAppendFormat(&out, "\\x%02x", static_cast<unsigned>(c));
    } else if (IsHiddenControl(c)) {
      absl::StrAppendFormat(&out, "\\u%04x", static_cast<unsigned>(c));
    } else {
      out.append(text.data() + i, length);
    }
    i += length;
  }
  return out;
}

// The string fields whose values are documents of several lines.
bool HoldsLines(const google::protobuf::FieldDescriptor& field) {
  return field.full_name() == "llorch.pool.v1.ModelInfo.config_json" ||
         field.full_name() == "llorch.pool.v1.LogLine.text";
}

// False for plain printable ASCII (with newlines and tabs where `keep_lines`), which Escape()
// leaves as it is: most of what a response holds.
bool MayNeedEscape(absl::string_view text, bool keep_lines) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f) continue;
    if (keep_lines && (c == '\n' || c == '\t')) continue;
    return true;
  }
  return false;
}

}  // namespace

std::string Visible(absl::string_view text) { return Escape(text, /*keep_lines=*/false); }

std::string VisibleLines(absl::string_view text) { return Escape(text, /*keep_lines=*/true); }

void MakeVisible(google::protobuf::Message* message) {
  RewriteStrings(message, [](const google::protobuf::FieldDescriptor& field, std::string* text) {
    if (!MayNeedEscape(*text, HoldsLines(field))) return false;
    std::string visible = Escape(*text, HoldsLines(field));
    if (visible == *text) return false;
    *text = std::move(visible);
    return true;
  });
}

}  // namespace llorch
