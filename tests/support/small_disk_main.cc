// small_disk: a nearly full disk for tests of what a download does when space runs short. It
// mounts a tmpfs of a given size on a directory in a mount namespace of its own (and a user
// namespace of its own when not root), so nothing outside the test sees the mount, and it goes
// with the process.
//   small_disk hold MIB DIR [ro]  mounts (read-only with "ro": writes fail with EROFS, whoever
//                               writes), prints "ready", and waits until it is killed
//   small_disk run PID ARGV...  runs ARGV in the namespaces of the `hold` process PID
// Exits 77 when the namespaces or the mount cannot be made here (the test then skips).
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr int kCannot = 77;

int Cannot(const std::string& what) {
  std::fprintf(stderr, "small_disk: cannot %s: %s\n", what.c_str(), std::strerror(errno));
  return kCannot;
}

bool WriteFile(const std::string& path, const std::string& text) {
  const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  return written;
}

int Hold(const std::string& mib, const std::string& dir, bool read_only) {
  const uid_t uid = getuid();
  const gid_t gid = getgid();
  if (uid != 0) {
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) return Cannot("make a user namespace");
    if (!WriteFile("/proc/self/setgroups", "deny") ||
        !WriteFile("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
        !WriteFile("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1")) {
      return Cannot("map the user namespace");
    }
  } else if (unshare(CLONE_NEWNS) != 0) {
    return Cannot("make a mount namespace");
  }
  // Nothing mounted here may reach the host's mount table.
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return Cannot("make the mounts private");
  }
  const std::string options = "size=" + mib + "m,mode=0755";
  if (mount("tmpfs", dir.c_str(), "tmpfs", read_only ? MS_RDONLY : 0, options.c_str()) != 0) {
    return Cannot("mount a tmpfs on " + dir);
  }
  std::printf("ready\n");
  std::fflush(stdout);
  for (;;) pause();
}

int Run(const std::string& pid, char** argv) {
  const std::string ns = "/proc/" + pid + "/ns/";
  char cwd[4096];
  if (getcwd(cwd, sizeof(cwd)) == nullptr) return Cannot("find the working directory");
  if (getuid() != 0) {
    const int user = open((ns + "user").c_str(), O_RDONLY | O_CLOEXEC);
    if (user < 0 || setns(user, CLONE_NEWUSER) != 0) return Cannot("enter the user namespace");
  }
  const int mnt = open((ns + "mnt").c_str(), O_RDONLY | O_CLOEXEC);
  if (mnt < 0 || setns(mnt, CLONE_NEWNS) != 0) return Cannot("enter the mount namespace");
  // Entering a mount namespace moves the working directory to its root: back to where it was.
  if (chdir(cwd) != 0) return Cannot(std::string("chdir to ") + cwd);
  execvp(argv[0], argv);
  return Cannot(std::string("run ") + argv[0]);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "hold" && argc == 4) return Hold(argv[2], argv[3], false);
  if (mode == "hold" && argc == 5 && std::string(argv[4]) == "ro")
    return Hold(argv[2], argv[3], true);
  if (mode == "run" && argc >= 4) return Run(argv[2], argv + 3);
  std::fprintf(stderr, "usage: small_disk hold MIB DIR [ro] | small_disk run PID ARGV...\n");
  return 2;
}
