#include "tests/support/session_child.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "gtest/gtest.h"

extern char** environ;

namespace llorch::testing {

SessionChild::SessionChild(const std::vector<std::string>& argv) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2 failed";
    return;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  if (posix_spawn(&pid_, args[0], &actions, &attributes, args.data(), environ) != 0) {
    ADD_FAILURE() << "cannot start " << argv[0];
    pid_ = -1;
  }
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  close(out[1]);
  out_ = fdopen(out[0], "r");
}

SessionChild::~SessionChild() {
  if (pid_ > 0 && !reaped_) {
    kill(-pid_, SIGKILL);
    Wait();
  }
  if (out_ != nullptr) fclose(out_);
}

std::string SessionChild::ReadLine() {
  std::string line;
  int c;
  while ((c = fgetc(out_)) != EOF && c != '\n') line.push_back(static_cast<char>(c));
  return line;
}

int SessionChild::Wait() {
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

std::string SignalChildPath() { return SIGNAL_CHILD; }

}  // namespace llorch::testing
