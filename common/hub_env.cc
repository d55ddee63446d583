#include "common/hub_env.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/file_read.h"

namespace llorch {
namespace {

std::string EnvValue(const Environment& env, const std::string& name) {
  auto it = env.find(name);
  return it == env.end() ? "" : it->second;
}

bool IsTruthy(absl::string_view value) {
  const std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(value));
  return lower == "1" || lower == "true" || lower == "yes" || lower == "on";
}

// $HF_TOKEN_PATH, else $HF_HOME/token (HF_HOME defaulting as for `hf`); "" when no place.
std::string TokenPath(const Environment& env) {
  std::string token_path = EnvValue(env, "HF_TOKEN_PATH");
  if (!token_path.empty()) return token_path;
  std::string hf_home = EnvValue(env, "HF_HOME");
  if (hf_home.empty()) {
    const std::string cache = EnvValue(env, "XDG_CACHE_HOME");
    const std::string home = EnvValue(env, "HOME");
    if (!cache.empty()) {
      hf_home = cache + "/huggingface";
    } else if (!home.empty()) {
      hf_home = home + "/.cache/huggingface";
    }
  }
  return hf_home.empty() ? "" : hf_home + "/token";
}

}  // namespace

HubEnvironment ReadHubEnvironment(const Environment& env) {
  HubEnvironment hub;
  std::string endpoint = EnvValue(env, "HF_ENDPOINT");
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  if (!endpoint.empty()) {
    hub.endpoint = endpoint;
    hub.endpoint_set = true;
  }
  const std::string offline = EnvValue(env, "HF_HUB_OFFLINE");
  hub.offline = IsTruthy(offline);
  hub.offline_set = !offline.empty();
  hub.token = std::string(absl::StripAsciiWhitespace(EnvValue(env, "HF_TOKEN")));
  if (!hub.token.empty()) {
    hub.token_source = "HF_TOKEN";
    return hub;
  }
  const std::string token_path = TokenPath(env);
  if (token_path.empty()) return hub;
  absl::StatusOr<std::string> text =
      ReadRegularFile(token_path, {.max_bytes = 64 << 10, .what = "Hub token file"});
  if (!text.ok()) return hub;
  hub.token = std::string(absl::StripAsciiWhitespace(*text));
  if (!hub.token.empty()) hub.token_source = token_path;
  return hub;
}

std::string HubTokenProblem(absl::string_view token) {
  if (token.empty() || token.size() > kMaxHubTokenLength) {
    return absl::StrCat("a Hub token has 1 to ", kMaxHubTokenLength, " characters; this one has ",
                        token.size());
  }
  for (const char c : token) {
    if (c <= ' ' || c > '~') {
      return "a Hub token holds only printable ASCII characters without spaces";
    }
  }
  return "";
}

}  // namespace llorch
