#include "tests/support/fake_hub.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <initializer_list>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <utility>

#include "absl/time/clock.h"
#include "nlohmann/json.hpp"

namespace llorch::testing {

namespace {

using Clock = std::chrono::steady_clock;

// Bytes handed to one sink.write: large enough that 1 GiB streams at loopback speed.
constexpr uint64_t kSliceBytes = 1 << 20;
// Clients open 8+ parallel connections, and each holds a worker for its whole response.
constexpr size_t kWorkerThreads = 64;
// "Never" for a fault offset within a response body.
constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();

std::string HexDigest(const EVP_MD* md, std::initializer_list<std::string_view> parts) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, md, nullptr);
  for (std::string_view part : parts) EVP_DigestUpdate(ctx, part.data(), part.size());
  EVP_DigestFinal_ex(ctx, digest, &size);
  EVP_MD_CTX_free(ctx);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  return hex;
}

// The id git gives `content` as a blob.
std::string GitBlobSha1(std::string_view content) {
  std::string header = "blob " + std::to_string(content.size());
  return HexDigest(EVP_sha1(), {header, std::string_view("\0", 1), content});
}

std::string Quoted(const std::string& text) { return "\"" + text + "\""; }

// False unless all of `text` is a number that fits.
bool ParseUint(std::string_view text, uint64_t& value) {
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size();
}

// What a Range header asks of a representation of `size` bytes.
struct ByteRange {
  bool partial = false;        // a satisfiable single range: answer 206
  bool unsatisfiable = false;  // answer 416
  uint64_t first = 0;
  uint64_t length = 0;
};

// Single ranges only ("bytes=A-B", "bytes=A-", "bytes=-N"); anything else is ignored, which
// RFC 9110 allows, and the whole representation is sent.
ByteRange ParseRange(const std::string& header, uint64_t size) {
  ByteRange whole{.length = size};
  static const std::regex kRange(R"(bytes=(\d*)-(\d*))");
  std::smatch match;
  if (!std::regex_match(header, match, kRange)) return whole;
  uint64_t first = 0;
  uint64_t last = kNever;
  if (match[1].length() == 0) {  // the last N bytes
    uint64_t suffix;
    if (!ParseUint(match[2].str(), suffix)) return whole;
    if (suffix == 0 || size == 0) return {.unsatisfiable = true};
    first = size - std::min(suffix, size);
    last = size - 1;
  } else {
    if (!ParseUint(match[1].str(), first)) return whole;
    if (match[2].length() > 0 && !ParseUint(match[2].str(), last)) return whole;
    if (last < first) return whole;
    if (first >= size) return {.unsatisfiable = true};
    last = std::min(last, size - 1);
  }
  return {.partial = true, .first = first, .length = last - first + 1};
}

// A file as a git repository on the Hub holds it.
struct HubFile {
  std::shared_ptr<const std::string> content;
  bool lfs = true;
  std::string sha256;  // LFS files only
  std::string oid;     // the git blob sha1: of the content, or of the LFS pointer file
  uint64_t pointer_size = 0;
  uint64_t advertised_size = 0;  // X-Linked-Size when set by AdvertiseSize(), else the real one
};

using HubFiles = std::map<std::string, HubFile>;

struct HubRepo {
  HubFiles files;
  std::map<std::string, HubFiles> history;  // the files at each earlier commit
  int version = 0;                          // AddFile calls so far: the commit changes with each
  std::string token;
};

// One response body being streamed, with the faults it carries as offsets into the body.
struct Body {
  std::shared_ptr<const std::string> content;
  uint64_t first = 0;           // file offset of the body's first byte
  uint64_t length = 0;          // body bytes
  int64_t corrupt_offset = -1;  // file offset
  uint64_t drop_at = kNever;
  uint64_t stall_at = kNever;
  Clock::duration stall_for{};
  uint64_t bytes_per_second = 0;
  std::optional<Clock::time_point> pace_start;
};

}  // namespace

struct FakeHub::State {
  mutable std::mutex mu;
  std::condition_variable stopping_cv;
  bool stopping = false;
  std::map<std::string, HubRepo> repos;
  // LFS objects by sha256. Never removed: the CDN is content-addressed, so an old URL keeps
  // serving the old bytes after the file is replaced.
  std::map<std::string, std::shared_ptr<const std::string>> lfs_objects;
  FakeHubFaults faults;
  int errors_left = 0;
  int drops_left = 0;
  int stalls_left = 0;
  std::vector<FakeHubRequest> requests;
  std::atomic<uint64_t> bytes_sent{0};
  std::string signing_key;

  httplib::Server hub;
  httplib::Server cdn;
  int hub_port = 0;
  int cdn_port = 0;
  std::thread hub_thread;
  std::thread cdn_thread;

  // Starts `server` ("hub" or "cdn" in the request log) on a port of 127.0.0.1 the kernel picks.
  void Start(const std::string& name, httplib::Server& server, int& port, std::thread& thread);
  std::string CommitLocked(const std::string& repo) const;
  std::string SignedUrlLocked(const std::string& sha256) const;
  std::string Signature(const std::string& sha256, const std::string& expires) const;

  void Route(const std::string& server, const httplib::Request& req, httplib::Response& res);
  void Record(const std::string& server, const httplib::Request& req, int status);
  bool InjectError(httplib::Response& res);
  void ServeHub(const httplib::Request& req, httplib::Response& res);
  // Finds `repo`'s files at `revision` for the Hub and checks its token, setting `commit` to
  // the commit the revision resolves to; on failure answers the error.
  const HubFiles* FindRepoLocked(const httplib::Request& req, const std::string& repo,
                                 const std::string& revision, httplib::Response& res,
                                 std::string* commit) const;
  void ServeResolve(const httplib::Request& req, const std::string& repo,
                    const std::string& revision, const std::string& path, httplib::Response& res);
  void ServeTree(const httplib::Request& req, const std::string& repo, const std::string& revision,
                 const std::string& path, httplib::Response& res);
  void ServeCdn(const httplib::Request& req, httplib::Response& res);
  // Answers the bytes of `content` the request's Range asks for; `cdn` applies the CDN faults.
  void ServeContent(const httplib::Request& req, std::shared_ptr<const std::string> content,
                    bool cdn, httplib::Response& res);

  bool Provide(Body& body, size_t offset, httplib::DataSink& sink);
  bool Send(const Body& body, uint64_t from, uint64_t to, httplib::DataSink& sink);
  // Sleeps until `deadline`; false when FakeHub is being destroyed.
  bool WaitUntil(Clock::time_point deadline);
};

namespace {

void HubError(httplib::Response& res, int status, const std::string& code,
              const std::string& message) {
  res.status = status;
  res.set_header("X-Error-Code", code);
  res.set_header("X-Error-Message", message);
  res.set_content(nlohmann::json{{"error", message}}.dump(), "application/json");
}

void CdnError(httplib::Response& res, int status, const std::string& code,
              const std::string& message) {
  res.status = status;
  res.set_content("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + code +
                      "</Code><Message>" + message + "</Message></Error>",
                  "application/xml");
}

// Requests httplib answers without routing (a malformed Range is a 416 before any handler, and
// methods other than GET and HEAD a 404) are recorded by the logger; Route() marks the ones it
// recorded itself. A connection is served by one thread from handler to logger.
thread_local bool request_recorded = false;

// Ends this process's server side of every connection to 127.0.0.1:`port`. After stop(), an
// httplib worker holding an idle keep-alive connection still waits out the keep-alive timeout
// (5 s) for another request; this wakes it at once.
void ShutDownConnections(int port) {
  for (const std::filesystem::directory_entry& entry :
       std::filesystem::directory_iterator("/proc/self/fd")) {
    int fd = std::stoi(entry.path().filename().string());
    sockaddr_in local{};
    socklen_t length = sizeof(local);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) == 0 &&
        local.sin_family == AF_INET && ntohs(local.sin_port) == port) {
      shutdown(fd, SHUT_RDWR);
    }
  }
}

}  // namespace

FakeHub::FakeHub() : state_(std::make_shared<State>()) {
  std::random_device random;
  std::string seed;
  for (int i = 0; i < 8; ++i) seed += std::to_string(random());
  state_->signing_key = HexDigest(EVP_sha256(), {seed});

  state_->Start("hub", state_->hub, state_->hub_port, state_->hub_thread);
  state_->Start("cdn", state_->cdn, state_->cdn_port, state_->cdn_thread);
}

void FakeHub::State::Start(const std::string& name, httplib::Server& server, int& port,
                           std::thread& thread) {
  // httplib accepts connections only once its worker pool exists, and starting kWorkerThreads
  // threads can take a second on a loaded machine (more under ThreadSanitizer): time a client
  // would count against its stall timeout. Start returns when the pool is there.
  auto pool_ready = std::make_shared<std::promise<void>>();
  std::future<void> pool_started = pool_ready->get_future();
  server.new_task_queue = [pool_ready] {
    auto* pool = new httplib::ThreadPool(kWorkerThreads);
    pool_ready->set_value();
    return pool;
  };
  server.set_keep_alive_max_count(1000);
  server.set_tcp_nodelay(true);
  server.Get(".*", [this, name](const httplib::Request& req, httplib::Response& res) {
    Route(name, req, res);
  });
  server.set_logger([this, name](const httplib::Request& req, const httplib::Response& res) {
    if (!std::exchange(request_recorded, false)) Record(name, req, res.status);
  });
  int listen_fd = -1;
  server.set_socket_options([&listen_fd](socket_t fd) {
    httplib::default_socket_options(fd);
    listen_fd = fd;
  });
  port = server.bind_to_any_port("127.0.0.1");
  server.set_socket_options(httplib::default_socket_options);
  if (port < 0) throw std::runtime_error("FakeHub: cannot bind 127.0.0.1");
  // httplib listens with a backlog of 5; parallel clients connecting at once would overflow it
  // and wait a second for the kernel to retry their handshake. Listening again raises it.
  ::listen(listen_fd, SOMAXCONN);
  thread = std::thread([&server] { server.listen_after_bind(); });
  // Also, stop() is a no-op until the server runs (it does before it makes the pool), so the
  // destructor could not stop it before then.
  pool_started.wait();
}

FakeHub::~FakeHub() {
  {
    std::lock_guard lock(state_->mu);
    state_->stopping = true;
  }
  state_->stopping_cv.notify_all();
  state_->hub.stop();
  state_->cdn.stop();
  ShutDownConnections(state_->hub_port);
  ShutDownConnections(state_->cdn_port);
  state_->hub_thread.join();
  state_->cdn_thread.join();
}

std::string FakeHub::endpoint() const {
  return "http://127.0.0.1:" + std::to_string(state_->hub_port);
}

std::string FakeHub::cdn_origin() const {
  return "http://127.0.0.1:" + std::to_string(state_->cdn_port);
}

void FakeHub::AddFile(const std::string& repo, const std::string& path, std::string content,
                      bool lfs) {
  HubFile file;
  file.lfs = lfs;
  if (lfs) {
    file.sha256 = HexDigest(EVP_sha256(), {content});
    std::string pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:" + file.sha256 +
                          "\nsize " + std::to_string(content.size()) + "\n";
    file.oid = GitBlobSha1(pointer);
    file.pointer_size = pointer.size();
  } else {
    file.oid = GitBlobSha1(content);
  }
  file.content = std::make_shared<const std::string>(std::move(content));
  std::lock_guard lock(state_->mu);
  if (lfs) state_->lfs_objects[file.sha256] = file.content;
  HubRepo& hub_repo = state_->repos[repo];
  if (hub_repo.version > 0) hub_repo.history[state_->CommitLocked(repo)] = hub_repo.files;
  hub_repo.files[path] = std::move(file);
  ++hub_repo.version;
}

std::string FakeHub::commit(const std::string& repo) const {
  std::lock_guard lock(state_->mu);
  return state_->CommitLocked(repo);
}

void FakeHub::RequireToken(const std::string& repo, const std::string& token) {
  std::lock_guard lock(state_->mu);
  state_->repos[repo].token = token;
}

void FakeHub::AdvertiseSize(const std::string& repo, const std::string& path, uint64_t size) {
  std::lock_guard lock(state_->mu);
  state_->repos[repo].files[path].advertised_size = size;
}

void FakeHub::SetFaults(const FakeHubFaults& faults) {
  std::lock_guard lock(state_->mu);
  state_->faults = faults;
  state_->errors_left = faults.error_count;
  state_->drops_left = faults.drop_after_bytes > 0 ? faults.drop_count : 0;
  state_->stalls_left = faults.stall_count;
}

std::string FakeHub::CdnUrl(const std::string& repo, const std::string& path) const {
  std::lock_guard lock(state_->mu);
  auto repo_it = state_->repos.find(repo);
  if (repo_it == state_->repos.end()) return "";
  auto file_it = repo_it->second.files.find(path);
  if (file_it == repo_it->second.files.end() || !file_it->second.lfs) return "";
  return state_->SignedUrlLocked(file_it->second.sha256);
}

uint64_t FakeHub::bytes_sent() const { return state_->bytes_sent; }

std::vector<FakeHubRequest> FakeHub::requests() const {
  std::lock_guard lock(state_->mu);
  return state_->requests;
}

void FakeHub::ResetStats() {
  std::lock_guard lock(state_->mu);
  state_->requests.clear();
  state_->bytes_sent = 0;
}

std::string FakeHub::State::CommitLocked(const std::string& repo) const {
  auto it = repos.find(repo);
  int version = it == repos.end() ? 0 : it->second.version;
  return HexDigest(EVP_sha1(), {"commit ", repo, "\n", std::to_string(version)});
}

std::string FakeHub::State::SignedUrlLocked(const std::string& sha256) const {
  // Milliseconds rather than S3's seconds, so tests can let a URL expire within a download.
  std::string expires = std::to_string(absl::ToUnixMillis(absl::Now() + faults.url_lifetime));
  return "http://127.0.0.1:" + std::to_string(cdn_port) + "/" + sha256 + "?expires=" + expires +
         "&signature=" + Signature(sha256, expires);
}

std::string FakeHub::State::Signature(const std::string& sha256, const std::string& expires) const {
  return HexDigest(EVP_sha256(), {signing_key, "\n", sha256, "\n", expires});
}

void FakeHub::State::Route(const std::string& server, const httplib::Request& req,
                           httplib::Response& res) {
  // httplib 0.11 applies the parsed ranges to whatever a handler answers: it slices error bodies
  // (or turns them into a 416), adds a second Content-Range, and asks content providers for
  // offsets past the end. Ranges are answered here instead, so httplib must not see them; the
  // Range header itself stays. The Request is a mutable object httplib owns.
  const_cast<httplib::Request&>(req).ranges.clear();
  if (!InjectError(res)) {
    if (server == "hub") {
      ServeHub(req, res);
    } else {
      ServeCdn(req, res);
    }
  }
  uint64_t padding = 0;
  {
    std::lock_guard lock(mu);
    padding = faults.extra_header_bytes;
  }
  for (int line = 0; padding > 0; ++line) {
    const uint64_t bytes = std::min<uint64_t>(padding, 4096);
    res.set_header("X-Padding-" + std::to_string(line), std::string(bytes, 'p'));
    padding -= bytes;
  }
  Record(server, req, res.status);
  request_recorded = true;
}

void FakeHub::State::Record(const std::string& server, const httplib::Request& req, int status) {
  FakeHubRequest request{.server = server,
                         .method = req.method,
                         .path = req.path,
                         .range = req.get_header_value("Range"),
                         .authorization = req.get_header_value("Authorization"),
                         .status = status};
  std::lock_guard lock(mu);
  requests.push_back(std::move(request));
}

bool FakeHub::State::InjectError(httplib::Response& res) {
  int retry_after;
  {
    std::lock_guard lock(mu);
    if (errors_left <= 0) return false;
    --errors_left;
    res.status = faults.error_status;
    retry_after = faults.retry_after_seconds;
  }
  if (retry_after >= 0) res.set_header("Retry-After", std::to_string(retry_after));
  res.set_content("injected fault: HTTP " + std::to_string(res.status) + "\n", "text/plain");
  return true;
}

void FakeHub::State::ServeHub(const httplib::Request& req, httplib::Response& res) {
  static const std::regex kTree(R"(/api/models/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?)");
  static const std::regex kResolve(R"(/([^/]+/[^/]+)/resolve/([^/]+)/(.+))");
  std::smatch match;
  if (std::regex_match(req.path, match, kTree)) {
    ServeTree(req, match[1], match[2], match[3], res);
  } else if (std::regex_match(req.path, match, kResolve)) {
    ServeResolve(req, match[1], match[2], match[3], res);
  } else {
    res.status = 404;
    res.set_content("Not Found\n", "text/plain");
  }
}

const HubFiles* FakeHub::State::FindRepoLocked(const httplib::Request& req, const std::string& repo,
                                               const std::string& revision, httplib::Response& res,
                                               std::string* commit) const {
  auto it = repos.find(repo);
  if (it == repos.end()) {
    HubError(res, 404, "RepoNotFound", "Repository not found");
    return nullptr;
  }
  if (!it->second.token.empty() &&
      req.get_header_value("Authorization") != "Bearer " + it->second.token) {
    HubError(res, 401, "GatedRepo",
             "Access to model " + repo +
                 " is restricted. You must have access to it and be authenticated to access it. "
                 "Please log in.");
    return nullptr;
  }
  if (revision == "main" || revision == CommitLocked(repo)) {
    *commit = CommitLocked(repo);
    return &it->second.files;
  }
  auto earlier = it->second.history.find(revision);
  if (earlier == it->second.history.end()) {
    HubError(res, 404, "RevisionNotFound", "Invalid rev id: " + revision);
    return nullptr;
  }
  *commit = revision;
  return &earlier->second;
}

void FakeHub::State::ServeResolve(const httplib::Request& req, const std::string& repo,
                                  const std::string& revision, const std::string& path,
                                  httplib::Response& res) {
  HubFile file;
  std::string commit;
  std::string location;
  std::string linked_size;
  bool sha1_etags = false;
  std::string etag;
  {
    std::lock_guard lock(mu);
    const HubFiles* files = FindRepoLocked(req, repo, revision, res, &commit);
    if (files == nullptr) return;
    auto it = files->find(path);
    if (it == files->end()) {
      HubError(res, 404, "EntryNotFound", "Entry not found");
      return;
    }
    file = it->second;
    if (file.lfs) {
      location = faults.redirect_location.empty() ? SignedUrlLocked(file.sha256)
                                                  : faults.redirect_location;
    }
    linked_size = faults.linked_size;
    sha1_etags = faults.sha1_etags;
    etag = faults.etag;
  }
  res.set_header("X-Repo-Commit", commit);
  if (file.lfs) {
    res.status = 302;
    res.set_header("Location", location);
    if (linked_size.empty()) {
      linked_size =
          std::to_string(file.advertised_size > 0 ? file.advertised_size : file.content->size());
    }
    res.set_header("X-Linked-Size", linked_size);
    if (!etag.empty()) {
      res.set_header("ETag", etag);
    } else if (sha1_etags) {
      res.set_header("ETag", Quoted(GitBlobSha1(*file.content)));
    } else {
      res.set_header("X-Linked-Etag", Quoted(file.sha256));
      res.set_header("ETag", Quoted(file.sha256));
    }
    return;
  }
  res.set_header("ETag", etag.empty() ? Quoted(file.oid) : etag);
  ServeContent(req, file.content, /*cdn=*/false, res);
}

void FakeHub::State::ServeTree(const httplib::Request& req, const std::string& repo,
                               const std::string& revision, const std::string& path,
                               httplib::Response& res) {
  std::string recursive = req.get_param_value("recursive");
  bool deep = recursive == "true" || recursive == "True" || recursive == "1";
  std::string prefix = path.empty() ? "" : path + "/";
  nlohmann::json entries = nlohmann::json::array();
  {
    std::lock_guard lock(mu);
    std::string commit;
    const HubFiles* files = FindRepoLocked(req, repo, revision, res, &commit);
    if (files == nullptr) return;
    std::set<std::string> listed_dirs;
    for (const auto& [file_path, file] : *files) {
      if (!file_path.starts_with(prefix)) continue;
      // Each directory between `prefix` and the file, outermost first, then the file itself;
      // without recursion only the first level.
      for (size_t slash = file_path.find('/', prefix.size()); slash != std::string::npos;
           slash = deep ? file_path.find('/', slash + 1) : std::string::npos) {
        std::string dir = file_path.substr(0, slash);
        if (listed_dirs.insert(dir).second) {
          entries.push_back({{"type", "directory"},
                             {"oid", HexDigest(EVP_sha1(), {"tree ", commit, "\n", dir})},
                             {"size", 0},
                             {"path", dir}});
        }
      }
      if (!deep && file_path.find('/', prefix.size()) != std::string::npos) continue;
      nlohmann::json entry = {
          {"type", "file"}, {"oid", file.oid}, {"size", file.content->size()}, {"path", file_path}};
      if (file.lfs) {
        entry["lfs"] = {{"oid", file.sha256},
                        {"size", file.content->size()},
                        {"pointerSize", file.pointer_size}};
      }
      entries.push_back(std::move(entry));
    }
  }
  if (!prefix.empty() && entries.empty()) {
    HubError(res, 404, "EntryNotFound", "Entry not found");
    return;
  }
  res.status = 200;
  res.set_content(entries.dump(), "application/json");
}

void FakeHub::State::ServeCdn(const httplib::Request& req, httplib::Response& res) {
  static const std::regex kObject(R"(/([0-9a-f]{64}))");
  std::smatch match;
  if (!std::regex_match(req.path, match, kObject)) {
    CdnError(res, 404, "NoSuchKey", "The specified key does not exist.");
    return;
  }
  std::string sha256 = match[1];
  std::string expires = req.get_param_value("expires");
  if (req.get_param_value("signature") != Signature(sha256, expires)) {
    CdnError(res, 403, "SignatureDoesNotMatch",
             "The request signature we calculated does not match the signature you provided.");
    return;
  }
  uint64_t expires_millis = 0;
  if (!ParseUint(expires, expires_millis) ||
      absl::Now() >= absl::FromUnixMillis(static_cast<int64_t>(expires_millis))) {
    CdnError(res, 403, "AccessDenied", "Request has expired");
    return;
  }
  std::shared_ptr<const std::string> content;
  {
    std::lock_guard lock(mu);
    auto it = lfs_objects.find(sha256);
    if (it != lfs_objects.end()) content = it->second;
  }
  if (content == nullptr) {
    CdnError(res, 404, "NoSuchKey", "The specified key does not exist.");
    return;
  }
  res.set_header("ETag", Quoted(sha256));
  ServeContent(req, std::move(content), /*cdn=*/true, res);
}

void FakeHub::State::ServeContent(const httplib::Request& req,
                                  std::shared_ptr<const std::string> content, bool cdn,
                                  httplib::Response& res) {
  uint64_t size = content->size();
  bool ignore_range = false;
  uint64_t stated_total = size;
  {
    std::lock_guard lock(mu);
    ignore_range = faults.ignore_range;
    if (faults.content_range_total > 0) stated_total = faults.content_range_total;
  }
  if (!ignore_range) res.set_header("Accept-Ranges", "bytes");
  ByteRange range = ParseRange(ignore_range ? std::string() : req.get_header_value("Range"), size);
  if (range.unsatisfiable) {
    res.status = 416;
    res.set_header("Content-Range", "bytes */" + std::to_string(size));
    return;
  }
  res.status = range.partial ? 206 : 200;
  if (range.partial) {
    res.set_header("Content-Range", "bytes " + std::to_string(range.first) + "-" +
                                        std::to_string(range.first + range.length - 1) + "/" +
                                        std::to_string(stated_total));
  }
  if (range.length == 0) {
    // httplib takes a provider of length 0 for one of unknown length; no body sends
    // "Content-Length: 0".
    res.set_header("Content-Type", "application/octet-stream");
    return;
  }
  auto body = std::make_shared<Body>();
  body->content = std::move(content);
  body->first = range.first;
  body->length = range.length;
  {
    std::lock_guard lock(mu);
    body->corrupt_offset = faults.corrupt_offset;
    if (cdn && req.method == "GET") {
      if (drops_left > 0 && body->length > faults.drop_after_bytes) {
        --drops_left;
        body->drop_at = faults.drop_after_bytes;
      }
      if (stalls_left > 0 && body->length > faults.stall_after_bytes) {
        --stalls_left;
        body->stall_at = faults.stall_after_bytes;
        // absl::InfiniteDuration() would overflow a time point; a day is forever here.
        body->stall_for =
            absl::ToChronoNanoseconds(std::min(faults.stall_duration, absl::Hours(24)));
      }
      body->bytes_per_second = faults.bytes_per_second_per_connection;
    }
  }
  res.set_content_provider(range.length, "application/octet-stream",
                           [this, body](size_t offset, size_t, httplib::DataSink& sink) {
                             return Provide(*body, offset, sink);
                           });
}

bool FakeHub::State::Provide(Body& body, size_t offset, httplib::DataSink& sink) {
  // Returning false makes httplib close the connection with the body cut short here.
  if (offset == body.drop_at) return false;
  if (offset == body.stall_at) {
    body.stall_at = kNever;
    Clock::time_point stall_start = Clock::now();
    if (!WaitUntil(stall_start + body.stall_for)) return false;
    // Pacing resumes from here rather than bursting to make up for the stall.
    if (body.pace_start) *body.pace_start += Clock::now() - stall_start;
  }
  uint64_t end = std::min({body.length, offset + kSliceBytes, body.drop_at, body.stall_at});
  if (body.bytes_per_second > 0) {
    // Slices of a twentieth of a second, each sent no earlier than the rate allows for all the
    // bytes up to its end.
    end = std::min(end, offset + std::max<uint64_t>(1, body.bytes_per_second / 20));
    if (!body.pace_start) body.pace_start = Clock::now();
    auto due = *body.pace_start +
               std::chrono::duration_cast<Clock::duration>(
                   std::chrono::duration<double>(static_cast<double>(end) / body.bytes_per_second));
    if (!WaitUntil(due)) return false;
  }
  return Send(body, offset, end, sink);
}

bool FakeHub::State::Send(const Body& body, uint64_t from, uint64_t to, httplib::DataSink& sink) {
  const char* data = body.content->data() + body.first;
  auto write = [&](const char* bytes, uint64_t count) {
    if (count == 0) return true;
    if (!sink.write(bytes, count)) return false;
    bytes_sent += count;
    return true;
  };
  uint64_t corrupt = body.corrupt_offset < 0 ? kNever : static_cast<uint64_t>(body.corrupt_offset);
  if (corrupt < body.first + from || corrupt >= body.first + to) {
    return write(data + from, to - from);
  }
  uint64_t at = corrupt - body.first;
  char flipped = static_cast<char>(data[at] ^ 0xff);
  return write(data + from, at - from) && write(&flipped, 1) && write(data + at + 1, to - at - 1);
}

bool FakeHub::State::WaitUntil(Clock::time_point deadline) {
  std::unique_lock lock(mu);
  return !stopping_cv.wait_until(lock, deadline, [this] { return stopping; });
}

}  // namespace llorch::testing
