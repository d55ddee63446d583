// FUZZ_CHECK(condition, what): a property a fuzz target asserts about a parser's result. When it
// does not hold the target prints what was expected and aborts, so libFuzzer reports a crash
// and writes the input that broke it (crash-<sha1>).
#ifndef LLORCH_FUZZ_FUZZ_CHECK_H_
#define LLORCH_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition, what)                                                              \
  do {                                                                                           \
    if (!(condition)) {                                                                          \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: %s\n", __FILE__, __LINE__, #condition, \
                   what);                                                                        \
      std::abort();                                                                              \
    }                                                                                            \
  } while (false)

#endif  // LLORCH_FUZZ_FUZZ_CHECK_H_
