// A stand-in for a worker process in the process tests (identity, stop, scan): it sets up its
// signal handling, prints "ready <pid> [<child pid>]" on stdout and waits for signals.
//
//   --ignore-sigint     SIGINT is ignored (a worker that does not stop on its stop signal)
//   --fork-child        forks a child into its own process group that ignores SIGINT and SIGTERM
//   --report-signals    prints "signal N" for every SIGINT, SIGTERM, SIGHUP, SIGUSR1 it gets
//                       and exits 0 on SIGTERM (the unrelated process a stale record names)
// By default SIGINT makes it exit with code 0, as llorch-candled shuts down gracefully on it.
// Other arguments (worker flags) are ignored.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace {

bool report_signals = false;

void OnSignal(int signal) {
  if (report_signals) {
    char line[32];
    int n = snprintf(line, sizeof(line), "signal %d\n", signal);
    (void)!write(1, line, static_cast<size_t>(n));
  }
  if (signal == SIGINT || signal == SIGTERM) _exit(0);
}

void Handle(int signal, void (*handler)(int)) {
  struct sigaction action = {};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  sigaction(signal, &action, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  bool ignore_sigint = false;
  bool fork_child = false;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--ignore-sigint") == 0) ignore_sigint = true;
    if (strcmp(argv[i], "--fork-child") == 0) fork_child = true;
    if (strcmp(argv[i], "--report-signals") == 0) report_signals = true;
  }
  pid_t child = 0;
  if (fork_child) {
    // Ignored before the fork, so the child ignores them from its first instruction.
    Handle(SIGINT, SIG_IGN);
    Handle(SIGTERM, SIG_IGN);
    child = fork();
    if (child == 0) {
      close(1);
      for (;;) pause();
    }
    Handle(SIGTERM, SIG_DFL);
  }
  Handle(SIGINT, ignore_sigint ? SIG_IGN : OnSignal);
  if (report_signals) {
    Handle(SIGTERM, OnSignal);
    Handle(SIGHUP, OnSignal);
    Handle(SIGUSR1, OnSignal);
  }
  if (child > 0) {
    printf("ready %d %d\n", getpid(), child);
  } else {
    printf("ready %d\n", getpid());
  }
  fflush(stdout);
  for (;;) pause();
}
