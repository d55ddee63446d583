// The HuggingFace Hub settings a process's environment gives, read as the official client
// (huggingface_hub, the `hf` CLI) reads them. The agent downloads with its own; the CLI compares
// its own with the agent's and passes its token along (docs/security.md, "Hub credentials").
#ifndef LLORCH_COMMON_HUB_ENV_H_
#define LLORCH_COMMON_HUB_ENV_H_

#include <string>

#include "absl/strings/string_view.h"
#include "common/paths.h"

namespace llorch {

inline constexpr char kDefaultHubEndpoint[] = "https://huggingface.co";

// The gRPC metadata key of the Hub token a caller passes with a request (model.proto,
// DownloadModel): the token of the one who asks, for that operation only.
inline constexpr char kHubTokenMetadataKey[] = "x-llorch-hub-token";

// The longest Hub token accepted in kHubTokenMetadataKey (the Hub's are about 40 characters).
inline constexpr size_t kMaxHubTokenLength = 1024;

struct HubEnvironment {
  // HF_ENDPOINT without trailing slashes; kDefaultHubEndpoint when unset or empty.
  std::string endpoint = kDefaultHubEndpoint;
  bool endpoint_set = false;  // HF_ENDPOINT was set (non-empty)
  // HF_HUB_OFFLINE=1|true|yes|on (any case): no network calls at all.
  bool offline = false;
  bool offline_set = false;  // HF_HUB_OFFLINE was set (non-empty), to anything
  // HF_TOKEN, else the file `hf auth login` writes: $HF_TOKEN_PATH, else $HF_HOME/token, HF_HOME
  // defaulting to $XDG_CACHE_HOME/huggingface, that to ~/.cache/huggingface. Surrounding
  // whitespace removed; "" when none (a file that cannot be read counts as none, as for `hf`).
  std::string token;
  // Where the token came from, for messages: "HF_TOKEN" or the file's path; "" when none.
  std::string token_source;
};

// The Hub settings of `env`.
HubEnvironment ReadHubEnvironment(const Environment& env);

// What is wrong with `token` as a Hub token to send on, "" when nothing: it must be 1 to
// kMaxHubTokenLength printable ASCII characters without spaces (anything else could not travel
// in an HTTP header as it is). The problem never quotes the token.
std::string HubTokenProblem(absl::string_view token);

}  // namespace llorch

#endif  // LLORCH_COMMON_HUB_ENV_H_
