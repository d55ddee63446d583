// The manual page of llorch-pool (man(7) format), made from the command tree so it cannot drift
// from --help: every command with its description, usage, options and examples, the global
// options, and the exit codes. The build writes it with the hidden `llorch-pool __man` and
// `cmake --install` installs it as share/man/man1/llorch-pool.1.
#ifndef LLORCH_CLIENT_MAN_PAGE_H_
#define LLORCH_CLIENT_MAN_PAGE_H_

#include <string>

#include "CLI/CLI.hpp"

namespace llorch {

std::string ManPage(const CLI::App& root);

}  // namespace llorch

#endif  // LLORCH_CLIENT_MAN_PAGE_H_
