// The keys of ErrorHint.metadata (WithMetadata in common/status.h): facts about an error for
// programs, part of the v1 API. docs/api.md says which reasons carry which keys
// (tests/unit/error_reasons_test.cc checks that it names every key here).
#ifndef LLORCH_COMMON_ERROR_METADATA_H_
#define LLORCH_COMMON_ERROR_METADATA_H_

namespace llorch::metadata {

// The request field at fault, as the .proto spells it: "ids[1]", "branch", "#7" (unknown).
inline constexpr char kField[] = "field";
// A catalog model id.
inline constexpr char kModel[] = "model";
// The closest known ids or names to an unknown one, closest first, comma-separated.
inline constexpr char kSuggestions[] = "suggestions";
// An operation id.
inline constexpr char kOperationId[] = "operation_id";
// The process id holding a lock.
inline constexpr char kHolderPid[] = "holder_pid";
// Who cancelled an operation: the gRPC peer that asked, and what the client said it is.
inline constexpr char kPeer[] = "peer";
inline constexpr char kRequestedBy[] = "requested_by";
// The signal that stopped the agent, e.g. "SIGTERM".
inline constexpr char kSignal[] = "signal";
// This run of the agent (HostInfo.instance_id), and the oldest event sequence it keeps.
inline constexpr char kAgentInstanceId[] = "agent_instance_id";
inline constexpr char kFirstSequence[] = "first_sequence";
// An absolute path on the agent's host.
inline constexpr char kPath[] = "path";
// Where a symlink points, as stored in the link.
inline constexpr char kSymlinkTarget[] = "symlink_target";
// Bytes a download still needs on the models volume, and the bytes free there.
inline constexpr char kNeededBytes[] = "needed_bytes";
inline constexpr char kFreeBytes[] = "free_bytes";
// A Hub repository ("owner/name"), a file in it, and the revision asked for.
inline constexpr char kRepo[] = "repo";
inline constexpr char kFile[] = "file";
inline constexpr char kRevision[] = "revision";
// A submodule name from .gitmodules.
inline constexpr char kSubmodule[] = "submodule";
// A branch name.
inline constexpr char kBranch[] = "branch";
// A git remote's name or URL.
inline constexpr char kRemote[] = "remote";

}  // namespace llorch::metadata

#endif  // LLORCH_COMMON_ERROR_METADATA_H_
