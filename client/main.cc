// llorch-pool: the operator's CLI for an LLM inference host. See README.md.
#include "client/cli.h"
#include "client/output.h"

int main(int argc, char** argv) {
  llorch::PrepareStandardStreams();
  llorch::CommandLine command_line;
  return llorch::FinishOutput(command_line.Run(argc, argv));
}
