// llorch-pool: the operator's CLI for an LLM inference host. See README.md.
#include "client/cli.h"

int main(int argc, char** argv) {
  llorch::CommandLine command_line;
  return command_line.Run(argc, argv);
}
