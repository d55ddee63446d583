#include "agent/workers/ready_listener.h"

#include <httplib.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "nlohmann/json.hpp"

namespace llorch {
namespace {

constexpr char kReadyPath[] = "/v1/workers/ready";

std::optional<ReadyReport> ParseReport(const std::string& body) {
  const nlohmann::json json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json.contains("worker_id") || !json["worker_id"].is_string()) {
    return std::nullopt;
  }
  ReadyReport report;
  report.worker_id = json["worker_id"].get<std::string>();
  for (const char* key : {"uri", "url"}) {
    if (json.contains(key) && json[key].is_string()) report.uri = json[key].get<std::string>();
  }
  if (json.contains("vram_bytes") && json["vram_bytes"].is_number_unsigned()) {
    report.vram_bytes = json["vram_bytes"].get<uint64_t>();
  }
  return report;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ReadyListener>> ReadyListener::Start(int port, OnReady on_ready) {
  std::unique_ptr<ReadyListener> listener(new ReadyListener());
  listener->server_ = std::make_unique<httplib::Server>();
  listener->server_->Post(
      kReadyPath, [on_ready = std::move(on_ready)](const httplib::Request& request,
                                                   httplib::Response& response) {
        std::optional<ReadyReport> report = ParseReport(request.body);
        if (!report) {
          response.status = 400;
          response.set_content(R"({"error":"expected a JSON object with worker_id"})",
                               "application/json");
          return;
        }
        on_ready(*report);
        response.status = 200;
        response.set_content(R"({"status":"ok"})", "application/json");
      });
  // Not httplib's default SO_REUSEPORT: a second agent on the port must fail to bind, not share
  // it and receive half of the first one's callbacks.
  listener->server_->set_socket_options([](int fd) {
    const int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  if (port == 0) {
    listener->port_ = listener->server_->bind_to_any_port("127.0.0.1");
  } else if (listener->server_->bind_to_port("127.0.0.1", port)) {
    listener->port_ = port;
  }
  if (listener->port_ <= 0) {
    return WithHint(absl::UnavailableError(absl::StrCat(
                        "cannot listen for worker ready callbacks on 127.0.0.1:", port)),
                    "another program uses the port: free it or set workers.callback_port");
  }
  httplib::Server* server = listener->server_.get();
  listener->thread_ = std::thread([server] { server->listen_after_bind(); });
  // stop() does nothing until the server runs: wait for that, so the destructor can stop it.
  while (!server->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return listener;
}

ReadyListener::~ReadyListener() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string ReadyListener::CallbackUrl() const {
  return absl::StrCat("http://127.0.0.1:", port_, kReadyPath);
}

std::optional<uint64_t> ProbeHealth(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(1, 0);
  client.set_read_timeout(1, 0);
  httplib::Result result = client.Get("/health");
  if (!result || result->status != 200) return std::nullopt;
  const nlohmann::json json =
      nlohmann::json::parse(result->body, nullptr, /*allow_exceptions=*/false);
  if (json.is_object() && json.contains("vram_bytes") && json["vram_bytes"].is_number_unsigned()) {
    return json["vram_bytes"].get<uint64_t>();
  }
  return 0;
}

}  // namespace llorch
