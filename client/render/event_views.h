// The lines of `llorch-pool agent events`: one per AgentEvent (agent.proto), e.g.
//   #12  14:03:22  operation op-7f3a2c1d model.download tiny: succeeded
//   #13  14:03:22  model tiny installed (operation op-7f3a2c1d)
#ifndef LLORCH_CLIENT_RENDER_EVENT_VIEWS_H_
#define LLORCH_CLIENT_RENDER_EVENT_VIEWS_H_

#include <string>

#include "client/render/style.h"
#include "llorch/pool/v1/agent.pb.h"

namespace llorch {

// The event as one line, with its newline; call it through RenderVisible (visible.h).
std::string RenderAgentEvent(const pool::v1::AgentEvent& event, const Style& style);

}  // namespace llorch

#endif  // LLORCH_CLIENT_RENDER_EVENT_VIEWS_H_
