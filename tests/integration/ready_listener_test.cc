// The agent's loopback listener for ready callbacks, and its /health probe, over real sockets:
// what a worker sees, and what a hostile local peer (too much, too slow, nothing) gets.
#include "agent/workers/ready_listener.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <vector>

#include "common/dir_fd.h"

namespace llorch {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// A client socket connected to 127.0.0.1:`port`, giving up on reads after 30 s.
UniqueFd Connect(int port) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  EXPECT_EQ(connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  const timeval timeout{30, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  return fd;
}

void SendAll(int fd, const std::string& bytes) {
  ASSERT_EQ(send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
}

// Everything the peer sends until it closes.
std::string ReadToEnd(int fd) {
  std::string answer;
  char buffer[4096];
  ssize_t got;
  while ((got = recv(fd, buffer, sizeof(buffer), 0)) > 0) answer.append(buffer, got);
  return answer;
}

std::string Exchange(int port, const std::string& request) {
  UniqueFd fd = Connect(port);
  SendAll(fd.get(), request);
  return ReadToEnd(fd.get());
}

std::string Post(const std::string& body, const std::string& path = "/v1/workers/ready") {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

class ReadyListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ReadyListener>> listener =
        ReadyListener::Start(0, [this](const ReadyReport& report) {
          std::lock_guard lock(mu_);
          reports_.push_back(report);
        });
    ASSERT_TRUE(listener.ok()) << listener.status();
    listener_ = *std::move(listener);
  }

  std::vector<ReadyReport> Reports() {
    std::lock_guard lock(mu_);
    return reports_;
  }

  std::mutex mu_;
  std::vector<ReadyReport> reports_;
  std::unique_ptr<ReadyListener> listener_;
};

TEST_F(ReadyListenerTest, BothBodyShapesAreAnswered200AndHandedOn) {
  EXPECT_THAT(listener_->CallbackUrl(),
              "http://127.0.0.1:" + std::to_string(listener_->port()) + "/v1/workers/ready");
  EXPECT_THAT(Exchange(listener_->port(),
                       Post(R"({"worker_id":"w1","vram_bytes":7,"uri":"http://localhost:1"})")),
              StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(
      Exchange(
          listener_->port(),
          "POST /v1/workers/ready HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
          "10\r\n{\"worker_id\":\"w2\r\n1d\r\n\",\"url\":\"http://localhost:2\"}\r\n0\r\n\r\n"),
      StartsWith("HTTP/1.1 200 OK\r\n"));
  std::vector<ReadyReport> reports = Reports();
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].worker_id, "w1");
  EXPECT_EQ(reports[0].vram_bytes, 7u);
  EXPECT_EQ(reports[1].worker_id, "w2");
  EXPECT_EQ(reports[1].uri, "http://localhost:2");
}

TEST_F(ReadyListenerTest, WrongRequestsGetTheirErrorAndReportNothing) {
  const int port = listener_->port();
  EXPECT_THAT(Exchange(port, Post(R"({"vram_bytes":1})")),
              AllOf(StartsWith("HTTP/1.1 400 "), HasSubstr("worker_id")));
  EXPECT_THAT(Exchange(port, Post("{}", "/other")), StartsWith("HTTP/1.1 404 "));
  EXPECT_THAT(Exchange(port, "GET /v1/workers/ready HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 405 "));
  EXPECT_THAT(Exchange(port, "SSH-2.0-OpenSSH_9.2\r\n\r\n"), StartsWith("HTTP/1.1 400 "));
  EXPECT_THAT(Exchange(port, "POST /v1/workers/ready HTTP/1.1\r\nX: " + std::string(9000, 'a') +
                                 "\r\n\r\n"),
              StartsWith("HTTP/1.1 431 "));
  // Refused from the header alone: the body is never read.
  EXPECT_THAT(
      Exchange(port, "POST /v1/workers/ready HTTP/1.1\r\nContent-Length: 1000000000\r\n\r\n"),
      StartsWith("HTTP/1.1 413 "));
  EXPECT_THAT(Exchange(port, "POST /v1/workers/ready HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
              StartsWith("HTTP/1.1 501 "));
  // A peer that closes half-way gets no answer and leaves nothing behind.
  {
    UniqueFd fd = Connect(port);
    SendAll(fd.get(), "POST /v1/workers/ready HTTP/1.1\r\nContent-Length: 10\r\n\r\n{\"wor");
  }
  EXPECT_TRUE(Reports().empty());
  EXPECT_THAT(Exchange(port, Post(R"({"worker_id":"w"})")), StartsWith("HTTP/1.1 200 "));
}

TEST_F(ReadyListenerTest, ASlowPeerDoesNotHoldUpACallbackAndIsClosedInTime) {
  // Half a request, then nothing.
  UniqueFd slow = Connect(listener_->port());
  SendAll(slow.get(), "POST /v1/workers/ready HTTP/1.1\r\nContent-Length: 100\r\n\r\n{");
  EXPECT_THAT(Exchange(listener_->port(), Post(R"({"worker_id":"w"})")),
              StartsWith("HTTP/1.1 200 "));
  ASSERT_EQ(Reports().size(), 1u);
  // Closed without an answer once kConnectionTimeout is up (ReadToEnd waits up to 30 s).
  EXPECT_EQ(ReadToEnd(slow.get()), "");
}

TEST_F(ReadyListenerTest, MoreIdleConnectionsThanItServesDoNotLockOutACallback) {
  std::vector<UniqueFd> idle;
  for (size_t i = 0; i < 2 * ReadyListener::kMaxConnections; ++i) {
    idle.push_back(Connect(listener_->port()));
  }
  EXPECT_THAT(Exchange(listener_->port(), Post(R"({"worker_id":"w"})")),
              StartsWith("HTTP/1.1 200 "));
  EXPECT_EQ(Reports().size(), 1u);
}

TEST_F(ReadyListenerTest, ASecondListenerCannotTakeThePort) {
  absl::StatusOr<std::unique_ptr<ReadyListener>> second =
      ReadyListener::Start(listener_->port(), [](const ReadyReport&) {});
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(second.status().message(),
              HasSubstr("cannot listen for worker ready callbacks on 127.0.0.1:" +
                        std::to_string(listener_->port())));
}

// A one-connection server on a loopback port that answers `answer` (or nothing) and closes.
class OneAnswer {
 public:
  explicit OneAnswer(std::string answer) : answer_(std::move(answer)) {
    fd_ = UniqueFd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    EXPECT_EQ(bind(fd_.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(listen(fd_.get(), 4), 0);
    getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] {
      UniqueFd peer(accept(fd_.get(), nullptr, nullptr));
      char buffer[4096];
      (void)recv(peer.get(), buffer, sizeof(buffer), 0);
      if (answer_.empty()) {  // never answers: wait for the client to give up
        (void)recv(peer.get(), buffer, sizeof(buffer), 0);
        return;
      }
      (void)send(peer.get(), answer_.data(), answer_.size(), MSG_NOSIGNAL);
    });
  }
  ~OneAnswer() { thread_.join(); }
  int port() const { return port_; }

 private:
  std::string answer_;
  UniqueFd fd_;
  int port_ = 0;
  std::thread thread_;
};

TEST(ProbeHealthTest, Only200IsReadyWithItsVramBytes) {
  {
    OneAnswer worker(
        "HTTP/1.1 200 OK\r\nContent-Length: "
        "38\r\n\r\n{\"status\":\"healthy\",\"vram_bytes\":4096}");
    EXPECT_EQ(ProbeHealth(worker.port()), std::optional<uint64_t>(4096));
  }
  {
    OneAnswer worker("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nnot json");
    EXPECT_EQ(ProbeHealth(worker.port()), std::optional<uint64_t>(0));
  }
  {
    OneAnswer worker("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(ProbeHealth(worker.port()), std::nullopt);
  }
  {
    OneAnswer worker("");  // accepts and never answers: not ready after a second
    EXPECT_EQ(ProbeHealth(worker.port()), std::nullopt);
  }
}

}  // namespace
}  // namespace llorch
