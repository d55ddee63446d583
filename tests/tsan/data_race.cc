// A data race on purpose, for the tsan preset's check of itself (test tsan_fails_a_race): two
// threads write one int with nothing ordering them. Built with ThreadSanitizer and run with the
// preset's TSAN_OPTIONS, it must end in a race report and a failing exit code, which proves a race
// in our code fails the run and the suppressions do not hide it. Without a sanitizer it exits 0.
#include <cstdio>
#include <thread>

namespace {

int writes = 0;

void WriteUnguarded() { ++writes; }

}  // namespace

int main() {
  std::thread other(WriteUnguarded);
  WriteUnguarded();
  other.join();
  std::printf("%d writes\n", writes);
  return 0;
}
