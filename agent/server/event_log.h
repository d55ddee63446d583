// The agent's log tells what happened, from the same events AgentService.WatchEvents streams:
// one record per operation started (by whom), finished (state, duration, bytes) or cancelled (by
// whom),
// per model installed, removed or found unverified, and per worker state change (common/logging.h
// writes them as text or JSON). pool-agent sets it as its EventBus's observer.
#ifndef LLORCH_AGENT_SERVER_EVENT_LOG_H_
#define LLORCH_AGENT_SERVER_EVENT_LOG_H_

#include "common/logging.h"
#include "llorch/pool/v1/agent.pb.h"

namespace llorch {

// The record for `event`: its level, name ("operation.end") and fields; false when the event is
// not worth a line (an operation's RUNNING, progress-free state changes).
bool DescribeAgentEvent(const pool::v1::AgentEvent& event, LogLevel* level, std::string* name,
                        LogFields* fields);

// Writes DescribeAgentEvent's record, if any, with LogRecord().
void LogAgentEvent(const pool::v1::AgentEvent& event);

}  // namespace llorch

#endif  // LLORCH_AGENT_SERVER_EVENT_LOG_H_
