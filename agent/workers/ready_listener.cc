#include "agent/workers/ready_listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/workers/loopback_http.h"
#include "common/status.h"
#include "nlohmann/json.hpp"

namespace llorch {
namespace {

using Clock = std::chrono::steady_clock;
using Parse = HttpMessage::Parse;

constexpr char kReadyPath[] = "/v1/workers/ready";
constexpr size_t kReadSize = 16 << 10;

struct Answer {
  int status;
  const char* body;
};

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Content Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 501:
      return "Not Implemented";
  }
  return "Error";
}

sockaddr_in Loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  return address;
}

// One send, never waiting: the answers are a few hundred bytes, which a fresh socket's buffer
// takes whole. A peer that does not read them loses them.
void SendAnswer(int fd, const Answer& answer) {
  const std::string bytes =
      absl::StrCat("HTTP/1.1 ", answer.status, " ", Reason(answer.status),
                   "\r\nContent-Type: application/json\r\nContent-Length: ", strlen(answer.body),
                   "\r\nConnection: close\r\n\r\n", answer.body);
  (void)send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

// The answer to a whole request: only POST kReadyPath (any query) with a report is 200.
Answer Handle(const HttpMessage& request, const ReadyListener::OnReady& on_ready) {
  std::vector<absl::string_view> words = absl::StrSplit(request.start_line, ' ');
  if (words.size() != 3 || !absl::StartsWith(words[2], "HTTP/1.")) {
    return {400, R"({"error":"expected an HTTP/1.1 request"})"};
  }
  if (words[1].substr(0, words[1].find('?')) != kReadyPath) {
    return {404, R"({"error":"not found"})"};
  }
  if (words[0] != "POST") return {405, R"({"error":"POST the ready callback"})"};
  std::optional<ReadyReport> report = ParseReadyReport(request.body);
  if (!report) return {400, R"({"error":"expected a JSON object with worker_id"})"};
  on_ready(*report);
  return {200, R"({"status":"ok"})"};
}

// The answer to a request that cannot be read whole, or nullopt while it is still arriving.
std::optional<Answer> Refusal(Parse parse) {
  switch (parse) {
    case Parse::kIncomplete:
    case Parse::kComplete:
      return std::nullopt;
    case Parse::kMalformed:
      return Answer{400, R"({"error":"malformed HTTP request"})"};
    case Parse::kHeadTooLarge:
      return Answer{431, R"({"error":"request headers too large"})"};
    case Parse::kBodyTooLarge:
      return Answer{413, R"({"error":"request body too large"})"};
    case Parse::kUnsupported:
      return Answer{501, R"({"error":"unsupported transfer coding"})"};
  }
  return std::nullopt;
}

struct Connection {
  UniqueFd fd;
  std::string received;
  Clock::time_point deadline;
};

// Reads what `connection` has sent; true when it is done with (answered, closed or failed).
bool ServeConnection(Connection& connection, const ReadyListener::OnReady& on_ready) {
  char buffer[kReadSize];
  for (;;) {
    const ssize_t got = recv(connection.fd.get(), buffer, sizeof(buffer), MSG_DONTWAIT);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
    connection.received.append(buffer, static_cast<size_t>(got));
    const HttpMessage request = ParseHttpMessage(connection.received, HttpMessageKind::kRequest,
                                                 /*closed=*/got == 0);
    if (request.parse == Parse::kComplete) {
      SendAnswer(connection.fd.get(), Handle(request, on_ready));
      return true;
    }
    if (std::optional<Answer> refusal = Refusal(request.parse)) {
      SendAnswer(connection.fd.get(), *refusal);
      return true;
    }
    if (got == 0) return true;
  }
}

// The vram_bytes of a ready callback's or /health's JSON object, when it has them.
std::optional<uint64_t> VramOf(const nlohmann::json& json) {
  if (json.is_object() && json.contains("vram_bytes") && json["vram_bytes"].is_number_unsigned()) {
    return json["vram_bytes"].get<uint64_t>();
  }
  return std::nullopt;
}

// Waits up to `until` for `events` on `fd`; false on timeout or error.
bool WaitFor(int fd, short events, Clock::time_point until) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0) return false;
    pollfd poll_fd{fd, events, 0};
    const int ready = poll(&poll_fd, 1, static_cast<int>(left.count()) + 1);
    if (ready < 0 && errno == EINTR) continue;
    return ready > 0;
  }
}

}  // namespace

std::optional<ReadyReport> ParseReadyReport(absl::string_view body) {
  const nlohmann::json json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json.contains("worker_id") || !json["worker_id"].is_string()) {
    return std::nullopt;
  }
  ReadyReport report;
  report.worker_id = json["worker_id"].get<std::string>();
  for (const char* key : {"uri", "url"}) {
    if (json.contains(key) && json[key].is_string()) report.uri = json[key].get<std::string>();
  }
  report.vram_bytes = VramOf(json).value_or(0);
  return report;
}

absl::StatusOr<std::unique_ptr<ReadyListener>> ReadyListener::Start(int port, OnReady on_ready) {
  std::unique_ptr<ReadyListener> listener(new ReadyListener());
  listener->on_ready_ = std::move(on_ready);
  listener->socket_ = UniqueFd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  listener->stop_ = UniqueFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  const int fd = listener->socket_.get();
  // Not SO_REUSEPORT: a second agent on the port must fail to bind, not share it and receive
  // half of the first one's callbacks.
  const int yes = 1;
  sockaddr_in address = Loopback(port);
  socklen_t length = sizeof(address);
  if (fd < 0 || listener->stop_.get() < 0 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes)) != 0 ||
      bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      listen(fd, SOMAXCONN) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return WithHint(
        absl::UnavailableError(absl::StrCat(
            "cannot listen for worker ready callbacks on 127.0.0.1:", port, ": ", strerror(errno))),
        "another program uses the port: free it or set workers.callback_port");
  }
  listener->port_ = ntohs(address.sin_port);
  ReadyListener* self = listener.get();
  listener->thread_ = std::thread([self] { self->Serve(); });
  return listener;
}

ReadyListener::~ReadyListener() {
  const uint64_t one = 1;
  (void)write(stop_.get(), &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
}

void ReadyListener::Serve() {
  std::vector<Connection> connections;  // in the order they were accepted
  std::vector<pollfd> fds;
  for (;;) {
    fds.assign({{stop_.get(), POLLIN, 0}, {socket_.get(), POLLIN, 0}});
    for (const Connection& connection : connections)
      fds.push_back({connection.fd.get(), POLLIN, 0});
    int timeout = -1;
    if (!connections.empty()) {
      const auto first = std::min_element(
          connections.begin(), connections.end(),
          [](const Connection& a, const Connection& b) { return a.deadline < b.deadline; });
      timeout = static_cast<int>(std::max<int64_t>(
          0, std::chrono::ceil<std::chrono::milliseconds>(first->deadline - Clock::now()).count()));
    }
    if (poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) return;
    if (fds[0].revents != 0) return;
    const Clock::time_point now = Clock::now();
    size_t index = 2;
    std::erase_if(connections, [&](Connection& connection) {
      const short events = fds[index++].revents;
      return (events != 0 && ServeConnection(connection, on_ready_)) || now >= connection.deadline;
    });
    if ((fds[1].revents & POLLIN) == 0) continue;
    for (;;) {
      UniqueFd accepted(accept4(socket_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
      if (accepted.get() < 0) break;
      if (connections.size() == kMaxConnections) connections.erase(connections.begin());
      connections.push_back({std::move(accepted), "", now + kConnectionTimeout});
    }
  }
}

std::string ReadyListener::CallbackUrl() const {
  return absl::StrCat("http://127.0.0.1:", port_, kReadyPath);
}

std::optional<uint64_t> ProbeHealth(int port) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return std::nullopt;
  const sockaddr_in address = Loopback(port);
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    int error = 0;
    socklen_t length = sizeof(error);
    if (errno != EINPROGRESS ||
        !WaitFor(fd.get(), POLLOUT, Clock::now() + std::chrono::seconds(1)) ||
        getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error != 0) {
      return std::nullopt;
    }
  }
  const std::string request =
      absl::StrCat("GET /health HTTP/1.1\r\nHost: 127.0.0.1:", port,
                   "\r\nAccept: application/json\r\nConnection: close\r\n\r\n");
  if (send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return std::nullopt;
  }
  const Clock::time_point until = Clock::now() + std::chrono::seconds(1);
  std::string received;
  char buffer[kReadSize];
  for (;;) {
    if (!WaitFor(fd.get(), POLLIN, until)) return std::nullopt;
    const ssize_t got = recv(fd.get(), buffer, sizeof(buffer), 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return std::nullopt;
    received.append(buffer, static_cast<size_t>(got));
    const HttpMessage answer =
        ParseHttpMessage(received, HttpMessageKind::kResponse, /*closed=*/got == 0);
    if (answer.parse == Parse::kIncomplete) continue;
    if (answer.parse != Parse::kComplete || HttpStatusCode(answer.start_line) != 200) {
      return std::nullopt;
    }
    return VramOf(nlohmann::json::parse(answer.body, nullptr, /*allow_exceptions=*/false))
        .value_or(0);
  }
}

}  // namespace llorch
