// How the agent learns that a worker is ready.
//
// ReadyListener: the loopback HTTP listener (127.0.0.1 only) a worker POSTs its ready callback to.
// It accepts both body shapes of llorch-candled, {worker_id, vram_bytes, uri} and the later
// {worker_id, url, model_ref, backend, device}, hands the report on and answers 200 at once (the
// worker exits when the answer is not 2xx). A body without worker_id is 400. Reports for ids
// nobody waits for are handed on too: the receiver records or ignores them.
// One thread serves every connection at once (poll), each bounded in size (loopback_http.h) and
// in time (kConnectionTimeout from its accept): a peer that sends slowly, too much or nothing
// gets an error answer or is closed, and never holds up another's callback.
//
// ProbeHealth: the other way, for backends configured with ready = "health": GET /health on the
// worker's port; 200 is ready, anything else (503 while loading, no answer) is still starting.
#ifndef LLORCH_AGENT_WORKERS_READY_LISTENER_H_
#define LLORCH_AGENT_WORKERS_READY_LISTENER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/dir_fd.h"

namespace llorch {

struct ReadyReport {
  std::string worker_id;
  std::string uri;  // "uri" or "url" of the body; "" when it had neither
  uint64_t vram_bytes = 0;
};

// The report in a ready callback's body (either shape); nullopt unless it is a JSON object with
// a string worker_id. A pure function of the bytes.
std::optional<ReadyReport> ParseReadyReport(absl::string_view body);

class ReadyListener {
 public:
  using OnReady = std::function<void(const ReadyReport&)>;

  // How long a connection may take from accept to a whole request.
  static constexpr std::chrono::milliseconds kConnectionTimeout{5000};
  // Connections served at once; beyond that the longest-waiting one is closed for the new one.
  static constexpr size_t kMaxConnections = 64;

  // Listens on 127.0.0.1:`port` (0 = an ephemeral port), never sharing it (SO_REUSEADDR, no
  // SO_REUSEPORT). Unavailable naming the port when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<ReadyListener>> Start(int port, OnReady on_ready);
  ~ReadyListener();

  int port() const { return port_; }
  // The URL to give a worker as --callback-url.
  std::string CallbackUrl() const;

 private:
  ReadyListener() = default;
  void Serve();

  OnReady on_ready_;
  UniqueFd socket_;
  UniqueFd stop_;  // an eventfd: written by the destructor to end Serve()
  std::thread thread_;
  int port_ = 0;
};

// The worker's answer on GET http://127.0.0.1:`port`/health: its vram_bytes (0 when not given)
// when it answered 200, nullopt while it is not ready (503, no listener yet, no answer within a
// second).
std::optional<uint64_t> ProbeHealth(int port);

}  // namespace llorch

#endif  // LLORCH_AGENT_WORKERS_READY_LISTENER_H_
