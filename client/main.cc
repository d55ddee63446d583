// llorch-pool: the operator's CLI for an LLM inference host. See README.md.
#include <unistd.h>

#include <cstdio>

#include "client/cli.h"
#include "client/output.h"

int main(int argc, char** argv) {
  llorch::PrepareStandardStreams();
  llorch::CommandLine command_line;
  const int exit_code = llorch::FinishOutput(command_line.Run(argc, argv));
  if (command_line.RanOnAgentProcess()) {
    // Shutting gRPC's client threads down costs about 8 ms, a quarter of a `worker list`, and
    // leaves nothing behind that matters: end here. An agent inside this process (standalone)
    // stops in order instead, for its operations and workers.
    std::fflush(stderr);
    _exit(exit_code);
  }
  return exit_code;
}
