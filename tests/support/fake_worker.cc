// A stand-in for llorch-candled (llorch-cpu/cuda/metal-candled), as upstream-facts.md section 3
// describes it: flags --worker-id, --model, --port, --callback-url (required), --cuda-device N or
// --metal-device N; binds 0.0.0.0:<port>; GET /health answers 503 while "loading", then
// {"status":"healthy","vram_bytes":N}; POSTs its ready callback ({worker_id, vram_bytes, uri}, or
// the later {worker_id, url, model_ref, backend, device}) and exits when the answer is not 2xx;
// logs JSON lines to stdout; stops gracefully on SIGINT (exit 0), dies at once on SIGTERM.
//
// Switches (environment):
//   FAKE_WORKER_CRASH=N           log a line and exit N before anything else
//   FAKE_WORKER_IGNORE_SIGINT=1   ignore SIGINT
//   FAKE_WORKER_READY_DELAY_MS=N  "load the model" for N ms before it is ready
//   FAKE_WORKER_FORK_CHILD=1      fork a child that sleeps in the same process group
//   FAKE_WORKER_NO_CALLBACK=1     never call back (/health still turns ready)
//   FAKE_WORKER_NEW_BODY=1        send the later callback body shape
//   FAKE_WORKER_ARGV_FILE=PATH    write its argv there, one per line, first thing
//   FAKE_WORKER_LOG_LINES=N       once ready, log "line 1" .. "line N" (0: on and on)
//   FAKE_WORKER_LOG_EVERY_MS=N    ... one every N ms (default: all at once)
//   FAKE_WORKER_LOG_ON_SIGUSR1=1  ... not before its first SIGUSR1
//   FAKE_WORKER_PARTIAL_LAST=1    on SIGINT, end its log with a line without a newline
//   FAKE_WORKER_READY_STAMP_DIR=D when ready, write CLOCK_MONOTONIC in ns to D/<worker id>
//                                 (bench/worker_bench.cc times what follows from there)
//   FAKE_WORKER_EXIT_AFTER_READY=N  exit N once its ready callback was accepted (after
//                                 FAKE_WORKER_EXIT_DELAY_MS more ms, if set): a crash after ready
// SIGUSR1 makes it log "got SIGUSR1 <n>" (n = 1, 2, ...).
#include <httplib.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <thread>

namespace {

void Log(const std::string& level, const std::string& message) {
  std::string escaped;
  for (char c : message) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  std::printf("{\"level\":\"%s\",\"target\":\"fake_worker\",\"message\":\"%s\"}\n", level.c_str(),
              escaped.c_str());
  std::fflush(stdout);
}

const char* Env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  if (const char* file = Env("FAKE_WORKER_ARGV_FILE")) {
    std::ofstream out(file);
    for (int i = 0; i < argc; ++i) out << argv[i] << "\n";
  }
  if (const char* code = Env("FAKE_WORKER_CRASH")) {
    Log("error", "fake worker crashing as asked");
    return std::atoi(code);
  }
  std::map<std::string, std::string> flags;
  for (int i = 1; i + 1 < argc; i += 2) flags[argv[i]] = argv[i + 1];
  for (const char* required : {"--worker-id", "--model", "--port", "--callback-url"}) {
    if (flags.count(required) == 0) {
      Log("error", std::string("missing required flag ") + required);
      return 2;
    }
  }
  const std::string worker_id = flags["--worker-id"];
  const int port = std::atoi(flags["--port"].c_str());
  std::string backend = "cpu";
  std::string device = "0";
  if (flags.count("--cuda-device")) backend = "cuda", device = flags["--cuda-device"];
  if (flags.count("--metal-device")) backend = "metal", device = flags["--metal-device"];
  if (Env("FAKE_WORKER_IGNORE_SIGINT")) signal(SIGINT, SIG_IGN);
  if (Env("FAKE_WORKER_FORK_CHILD") && fork() == 0) {
    while (true) pause();
  }

  constexpr uint64_t kVram = 123456789;
  std::atomic<bool> ready{false};
  httplib::Server server;
  server.Get("/health", [&ready](const httplib::Request&, httplib::Response& response) {
    if (!ready) {
      response.status = 503;
      response.set_content(R"({"status":"loading"})", "application/json");
      return;
    }
    response.set_content(R"({"status":"healthy","vram_bytes":123456789})", "application/json");
  });
  // As the real worker binds: a port another process listens on is an error, never shared.
  server.set_socket_options([](int fd) {
    const int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  if (!server.bind_to_port("0.0.0.0", port)) {
    Log("error", "cannot bind 0.0.0.0:" + std::to_string(port));
    return 1;
  }
  // SIGINT: shut down gracefully (unless ignored above).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  if (Env("FAKE_WORKER_IGNORE_SIGINT")) sigdelset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::thread serve([&server] { server.listen_after_bind(); });
  // httplib's stop() does nothing until listening began, and serve.join() would then hang: a
  // SIGINT right after the start must still stop this worker.
  while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  Log("info", "worker " + worker_id + " loading model " + flags["--model"] + " on " + backend +
                  " device " + device);

  std::thread loader([&] {
    if (const char* delay = Env("FAKE_WORKER_READY_DELAY_MS")) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(delay)));
    }
    if (const char* dir = Env("FAKE_WORKER_READY_STAMP_DIR")) {
      timespec now{};
      clock_gettime(CLOCK_MONOTONIC, &now);
      const std::string stamp = std::string(dir) + "/" + worker_id;
      std::ofstream(stamp + ".tmp") << now.tv_sec * 1000000000LL + now.tv_nsec << "\n";
      std::rename((stamp + ".tmp").c_str(), stamp.c_str());
    }
    ready = true;
    Log("info", "model loaded");
    if (Env("FAKE_WORKER_NO_CALLBACK")) return;
    // http://HOST:PORT/PATH
    std::string url = flags["--callback-url"];
    const std::string scheme = "http://";
    if (url.rfind(scheme, 0) == 0) url = url.substr(scheme.size());
    const size_t slash = url.find('/');
    const std::string host_port = url.substr(0, slash);
    const std::string path = slash == std::string::npos ? "/" : url.substr(slash);
    httplib::Client client("http://" + host_port);
    const std::string uri = "http://localhost:" + std::to_string(port);
    const std::string body = Env("FAKE_WORKER_NEW_BODY")
                                 ? R"({"worker_id":")" + worker_id + R"(","url":")" + uri +
                                       R"(","model_ref":"fake","backend":")" + backend +
                                       R"(","device":)" + device + "}"
                                 : R"({"worker_id":")" + worker_id + R"(","vram_bytes":)" +
                                       std::to_string(kVram) + R"(,"uri":")" + uri + R"("})";
    httplib::Result result = client.Post(path, body, "application/json");
    if (!result || result->status < 200 || result->status > 299) {
      Log("error", "ready callback refused: " +
                       (result ? std::to_string(result->status) : std::string("no answer")));
      std::_Exit(1);
    }
    Log("info", "ready callback accepted");
    if (const char* code = Env("FAKE_WORKER_EXIT_AFTER_READY")) {
      if (const char* delay = Env("FAKE_WORKER_EXIT_DELAY_MS")) {
        std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(delay)));
      }
      Log("error", "fake worker crashing after ready as asked");
      std::_Exit(std::atoi(code));
    }
  });
  static std::atomic<bool> go_ahead{Env("FAKE_WORKER_LOG_ON_SIGUSR1") == nullptr};
  if (const char* count = Env("FAKE_WORKER_LOG_LINES")) {
    std::thread([count = std::atoi(count), &ready] {
      while (!ready || !go_ahead) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      const char* every = Env("FAKE_WORKER_LOG_EVERY_MS");
      for (long i = 1; count == 0 || i <= count; ++i) {
        Log("info", "line " + std::to_string(i));
        if (every) std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(every)));
      }
    }).detach();
  }
  loader.detach();

  for (int usr1 = 1;; ++usr1) {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    if (signal_number == SIGINT) break;
    go_ahead = true;
    Log("info", "got SIGUSR1 " + std::to_string(usr1));
  }
  Log("info", "SIGINT: shutting down");
  if (Env("FAKE_WORKER_PARTIAL_LAST")) {
    std::printf("{\"level\":\"info\",\"message\":\"no newline after this\"}");
    std::fflush(stdout);
  }
  server.stop();
  serve.join();
  return 0;
}
