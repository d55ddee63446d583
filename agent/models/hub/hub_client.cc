#include "agent/models/hub/hub_client.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/models/hub/hub_headers.h"
#include "common/error_metadata.h"
#include "common/error_reasons.h"
#include "common/hub_env.h"
#include "common/status.h"
#include "nlohmann/json.hpp"

namespace llorch {
namespace {

constexpr int kMaxHubRedirects = 5;

}  // namespace

HubOptions HubOptionsFromEnvironment(const Environment& env) {
  HubEnvironment hub = ReadHubEnvironment(env);
  HubOptions options;
  options.endpoint = std::move(hub.endpoint);
  options.offline = hub.offline;
  options.token = std::move(hub.token);
  options.token_source = std::move(hub.token_source);
  return options;
}

HubClient::HubClient(HubOptions options)
    : options_(std::move(options)), origin_(UrlOrigin(options_.endpoint)) {}

std::vector<std::string> HubClient::HeadersFor(absl::string_view url) const {
  std::vector<std::string> headers = {"Accept-Encoding: identity"};
  if (!options_.token.empty() && !origin_.empty() && UrlOrigin(url) == origin_) {
    headers.push_back(absl::StrCat("Authorization: Bearer ", options_.token));
  }
  return headers;
}

absl::Status HubClient::CheckOnline(absl::string_view what) const {
  if (!options_.offline) return absl::OkStatus();
  return WithReason(
      WithHint(absl::FailedPreconditionError(
                   absl::StrCat(what, ": offline mode (HF_HUB_OFFLINE is set), no network calls")),
               "unset HF_HUB_OFFLINE (or set it to 0) in the agent's environment to reach the Hub"),
      reasons::kHubOffline);
}

absl::StatusOr<HttpResponse> HubClient::Ask(const std::string& method, const std::string& url,
                                            const Cancelled& cancelled,
                                            const RetryLog& on_retry) const {
  HttpConnection connection;
  absl::StatusOr<HttpResponse> response = PerformWithRetries(
      connection,
      [&] {
        HttpRequest request;
        request.method = method;
        request.url = url;
        request.headers = HeadersFor(url);
        request.cancelled = cancelled;
        request.connect_timeout = options_.connect_timeout;
        request.stall_timeout = options_.stall_timeout;
        return request;
      },
      options_.retry, RetryRandom(), on_retry);
  if (response.ok() || absl::IsCancelled(response.status())) return response;
  if (!absl::IsUnavailable(response.status()) && !absl::IsDeadlineExceeded(response.status())) {
    return WithPrefix(response.status(), absl::StrCat("the Hub at ", options_.endpoint));
  }
  return WithHint(
      absl::Status(response.status().code(),
                   absl::StrCat("cannot reach the Hub at ", options_.endpoint, ": ",
                                response.status().message())),
      "check the network and proxy settings (https_proxy, no_proxy) where the agent runs; "
      "HF_ENDPOINT selects another Hub or a mirror");
}

namespace {

// The error for a Hub answer that is neither a file nor a redirect.
absl::Status HubError(const HttpResponse& response, const HubOptions& options,
                      const std::string& repo, const std::string& revision,
                      const std::string& path) {
  const std::string code = response.Header("x-error-code");
  std::string detail = response.Header("x-error-message");
  if (detail.empty())
    detail = std::string(absl::StripAsciiWhitespace(response.body.substr(0, 200)));
  const std::string looking_for =
      path.empty() ? absl::StrCat("listing ", repo, " at revision ", revision)
                   : absl::StrCat("looking for ", path, " at revision ", revision);
  const std::string hub_page = absl::StrCat(options.endpoint, "/", repo, "/tree/", revision);
  if (response.status == 404 || code == "RepoNotFound" || code == "RevisionNotFound" ||
      code == "EntryNotFound") {
    std::string message;
    if (code == "RepoNotFound") {
      message = absl::StrCat("repository ", repo, " not found on ", options.endpoint, " (",
                             looking_for, ")");
    } else if (code == "RevisionNotFound") {
      message =
          absl::StrCat("revision '", revision, "' not found in ", repo, " (", looking_for, ")");
    } else {
      message = absl::StrCat(path, " not found in ", repo, " at revision ", revision);
    }
    absl::Status status = WithReason(
        WithHint(absl::NotFoundError(absl::StrCat(message, " (HTTP ", response.status, ")")),
                 absl::StrCat("check the repository, file and revision at ", hub_page)),
        reasons::kHubNotFound);
    status = WithMetadata(std::move(status), metadata::kRepo, repo);
    status = WithMetadata(std::move(status), metadata::kRevision, revision);
    return path.empty() ? status : WithMetadata(std::move(status), metadata::kFile, path);
  }
  if (response.status == 401 || response.status == 403) {
    const std::string message =
        absl::StrCat("the Hub refused access to ", repo, " (HTTP ", response.status,
                     code.empty() ? "" : absl::StrCat(" ", code), detail.empty() ? "" : ": ",
                     detail, "; ", looking_for, ")");
    const std::string hint =
        options.token.empty()
            ? absl::StrCat(
                  "no token was sent: set HF_TOKEN (or run `hf auth login`) where you run "
                  "llorch-pool (it passes your token along with the request) or where the "
                  "agent runs; a gated model also needs its access request accepted at ",
                  options.endpoint, "/", repo)
            : absl::StrCat("the token from ", options.token_source,
                           " was sent but has no access: accept the model's terms at ",
                           options.endpoint, "/", repo, ", or use a token that can read it");
    return WithMetadata(
        WithReason(WithHint(absl::PermissionDeniedError(message), hint), reasons::kHubAccessDenied),
        metadata::kRepo, repo);
  }
  return absl::FailedPreconditionError(absl::StrCat("the Hub answered HTTP ", response.status,
                                                    detail.empty() ? "" : ": ", detail, " (",
                                                    looking_for, " in ", repo, ")"));
}

}  // namespace

absl::StatusOr<RemoteFile> HubClient::Resolve(const std::string& repo, const std::string& revision,
                                              const std::string& path, const Cancelled& cancelled,
                                              const RetryLog& on_retry) const {
  if (absl::Status offline = CheckOnline(absl::StrCat("cannot look up ", path, " of ", repo));
      !offline.ok()) {
    return offline;
  }
  RemoteFile file;
  file.repo = repo;
  file.revision = revision;
  file.path = path;
  std::string url = absl::StrCat(options_.endpoint, "/", PercentEncode(repo, true), "/resolve/",
                                 PercentEncode(revision, false), "/", PercentEncode(path, true));
  for (int hop = 0;; ++hop) {
    absl::StatusOr<HttpResponse> response = Ask("HEAD", url, cancelled, on_retry);
    if (!response.ok()) return response.status();
    if (response->status >= 300 && response->status < 400) {
      const std::string location = response->Header("location");
      if (location.empty()) {
        return absl::FailedPreconditionError(
            absl::StrCat("the Hub redirected ", UrlForDisplay(url), " nowhere (no Location)"));
      }
      const std::string next = ResolveUrl(url, location);
      if (UrlOrigin(next).empty()) {
        return HubBadAnswer(absl::StrCat("the Hub redirected ", path, " of ", repo, " to ",
                                         QuoteHeader(UrlForDisplay(next)),
                                         ", which is not an http or https URL; refused"),
                            options_);
      }
      // A redirect within the Hub (renamed repository, cached resolve) is followed; the LFS
      // redirect to the CDN is where the bytes are.
      if (UrlOrigin(next) == origin_ && response->Header("x-linked-etag").empty()) {
        if (hop >= kMaxHubRedirects) {
          return absl::FailedPreconditionError(
              absl::StrCat("the Hub redirected more than ", kMaxHubRedirects, " times for ", path));
        }
        url = next;
        continue;
      }
      file.url = next;
      return FileFromHeaders(*response, options_, std::move(file));
    }
    if (response->status == 200) {
      file.url = url;
      return FileFromHeaders(*response, options_, std::move(file));
    }
    return HubError(*response, options_, repo, revision, path);
  }
}

absl::StatusOr<std::vector<RemoteTreeEntry>> HubClient::ListFiles(const std::string& repo,
                                                                  const std::string& revision,
                                                                  const Cancelled& cancelled,
                                                                  const RetryLog& on_retry) const {
  if (absl::Status offline = CheckOnline(absl::StrCat("cannot list the files of ", repo));
      !offline.ok()) {
    return offline;
  }
  std::vector<RemoteTreeEntry> entries;
  std::string url = absl::StrCat(options_.endpoint, "/api/models/", PercentEncode(repo, true),
                                 "/tree/", PercentEncode(revision, false), "?recursive=true");
  while (!url.empty()) {
    absl::StatusOr<HttpResponse> response = Ask("GET", url, cancelled, on_retry);
    if (!response.ok()) return response.status();
    if (response->status != 200) return HubError(*response, options_, repo, revision, "");
    nlohmann::json json = nlohmann::json::parse(response->body, nullptr, false);
    if (!json.is_array()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the Hub's file listing of ", repo, " at revision ", revision, " is not a JSON array"));
    }
    for (const nlohmann::json& item : json) {
      if (!item.is_object() || item.value("type", "") != "file") continue;
      RemoteTreeEntry entry;
      entry.path = item.value("path", "");
      entry.blob_id = item.value("oid", "");
      if (item.contains("size") && item["size"].is_number_unsigned()) {
        entry.size = item["size"].get<uint64_t>();
      }
      if (item.contains("lfs") && item["lfs"].is_object()) {
        entry.sha256 = absl::AsciiStrToLower(item["lfs"].value("oid", ""));
      }
      if (!entry.path.empty()) entries.push_back(std::move(entry));
    }
    const std::string next = NextLink(response->Header("link"));
    url = next.empty() ? "" : ResolveUrl(url, next);
    if (!url.empty() && UrlOrigin(url) != origin_) url.clear();  // never leave the Hub
  }
  return entries;
}

}  // namespace llorch
