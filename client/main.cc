// llorch-pool: the operator's CLI for an LLM inference host. See README.md.
#include <unistd.h>

#include <cstdio>

#include "client/cli.h"
#include "client/output.h"

int main(int argc, char** argv) {
  llorch::PrepareStandardStreams();
  llorch::CommandLine command_line;
  const int exit_code = llorch::FinishOutput(command_line.Run(argc, argv));
  if (command_line.NothingToStop()) {
    // Shutting gRPC's client threads down costs about 8 ms, a quarter of a `worker list`, and an
    // idle agent inside this process (standalone, no operation started: `models catalog`,
    // `worker list`) as much again to join its server's threads; neither leaves anything behind
    // that matters: end here. An agent that ran operations stops in order instead, for them and
    // their workers.
    std::fflush(stderr);
    _exit(exit_code);
  }
  return exit_code;
}
