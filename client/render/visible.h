// Text from elsewhere (a GGUF's metadata, file names, git's output, a child's log) made safe to
// show on a terminal: what a terminal would act on rather than show is shown as an escape.
//
// Visible() escapes the C0 controls and DEL (\n, \r and \t as such, others as \x1b), the C1
// controls U+0080-U+009F (as \u009b: a terminal may take U+009B for ESC [), the separators
// U+2028 and U+2029, and the bidirectional formatting characters U+061C, U+200E, U+200F,
// U+202A-U+202E and U+2066-U+2069, which reorder what is displayed ("Trojan Source"); bytes
// that are not UTF-8 as \xff. Everything else, backslashes included, stays: escapes are for
// people to read, not to parse back. VisibleLines() keeps newlines and tabs, for text that is
// made of lines (an error message, a config.json, a log line).
//
// Every text view of a message from the agent is called through RenderVisible(), which hands it
// a copy whose strings are all Visible() (VisibleLines() for the fields that hold documents:
// ModelInfo.config_json, LogLine.text); so no view can print a raw string, and our own colours,
// added by the view afterwards, still work. JSON output is the exact message: JSON escapes
// control characters by itself.
#ifndef LLORCH_CLIENT_RENDER_VISIBLE_H_
#define LLORCH_CLIENT_RENDER_VISIBLE_H_

#include <google/protobuf/message.h>

#include <string>

#include "absl/strings/string_view.h"
#include "client/render/style.h"

namespace llorch {

std::string Visible(absl::string_view text);
std::string VisibleLines(absl::string_view text);

// Makes every string field of `message` visible, Any payloads included.
void MakeVisible(google::protobuf::Message* message);

// `view(message, style)` on a copy of `message` made visible.
template <typename Message, typename View>
std::string RenderVisible(const View& view, const Message& message, const Style& style) {
  Message visible = message;
  MakeVisible(&visible);
  return view(visible, style);
}

}  // namespace llorch

#endif  // LLORCH_CLIENT_RENDER_VISIBLE_H_
