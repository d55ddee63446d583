// The machine-readable reasons an error can carry (WithReason in common/status.h): part of the v1
// API, sent to clients in ErrorHint.reason. docs/api.md lists the same reasons in the same order
// with their gRPC code and meaning (tests/unit/error_reasons_test.cc keeps the two equal).
//
// They live at the bottom of the layers, next to WithReason, because every layer attaches some:
// common/ itself refuses symlinks (SYMLINK_REFUSED).
#ifndef LLORCH_COMMON_ERROR_REASONS_H_
#define LLORCH_COMMON_ERROR_REASONS_H_

namespace llorch::reasons {

// Any RPC.
inline constexpr char kInvalidRequest[] = "INVALID_REQUEST";
inline constexpr char kNotAvailableYet[] = "NOT_AVAILABLE_YET";
inline constexpr char kOperationNotFound[] = "OPERATION_NOT_FOUND";
inline constexpr char kRequestIdReused[] = "REQUEST_ID_REUSED";
inline constexpr char kTooManyStreams[] = "TOO_MANY_STREAMS";

// Why an operation was cancelled (in its error).
inline constexpr char kCancelledByClient[] = "CANCELLED_BY_CLIENT";
inline constexpr char kAgentShutdown[] = "AGENT_SHUTDOWN";
// Why an operation failed that its agent did not live to finish (in its error).
inline constexpr char kAgentRestarted[] = "AGENT_RESTARTED";

// The agent's event stream (AgentService.WatchEvents).
inline constexpr char kEventsExpired[] = "EVENTS_EXPIRED";

// Models: catalog, store, Hub, conversion.
inline constexpr char kModelNotFound[] = "MODEL_NOT_FOUND";
inline constexpr char kSymlinkRefused[] = "SYMLINK_REFUSED";
inline constexpr char kNotEnoughSpace[] = "NOT_ENOUGH_SPACE";
inline constexpr char kModelBusy[] = "MODEL_BUSY";
inline constexpr char kHubNotFound[] = "HUB_NOT_FOUND";
inline constexpr char kHubAccessDenied[] = "HUB_ACCESS_DENIED";
inline constexpr char kHubOffline[] = "HUB_OFFLINE";
inline constexpr char kHubNoDigest[] = "HUB_NO_DIGEST";
inline constexpr char kHubBadAnswer[] = "HUB_BAD_ANSWER";
inline constexpr char kHashMismatch[] = "HASH_MISMATCH";
inline constexpr char kUpstreamChanged[] = "UPSTREAM_CHANGED";
inline constexpr char kPinMismatch[] = "PIN_MISMATCH";
inline constexpr char kNoLockFile[] = "NO_LOCK_FILE";
inline constexpr char kConverterMissing[] = "CONVERTER_MISSING";
inline constexpr char kPythonMissing[] = "PYTHON_MISSING";
inline constexpr char kHfCliMissing[] = "HF_CLI_MISSING";

// Git: the checkout and its submodules.
inline constexpr char kNotAGitRepo[] = "NOT_A_GIT_REPO";
inline constexpr char kGitMissing[] = "GIT_MISSING";
inline constexpr char kSubmoduleNotFound[] = "SUBMODULE_NOT_FOUND";
inline constexpr char kBadBranchName[] = "BAD_BRANCH_NAME";
inline constexpr char kBranchNotFound[] = "BRANCH_NOT_FOUND";
inline constexpr char kLocalChanges[] = "LOCAL_CHANGES";
inline constexpr char kUntrackedInTheWay[] = "UNTRACKED_IN_THE_WAY";
inline constexpr char kProtectedPath[] = "PROTECTED_PATH";
inline constexpr char kDetachedHead[] = "DETACHED_HEAD";
inline constexpr char kNoUpstream[] = "NO_UPSTREAM";
inline constexpr char kDiverged[] = "DIVERGED";
inline constexpr char kConflict[] = "CONFLICT";
inline constexpr char kRemoteUnreachable[] = "REMOTE_UNREACHABLE";

// Workers.
inline constexpr char kWorkerNotFound[] = "WORKER_NOT_FOUND";
inline constexpr char kModelNotDownloaded[] = "MODEL_NOT_DOWNLOADED";
inline constexpr char kWorkerExists[] = "WORKER_EXISTS";
inline constexpr char kPortInUse[] = "PORT_IN_USE";
inline constexpr char kProcessReplaced[] = "PROCESS_REPLACED";
inline constexpr char kModelUnverified[] = "MODEL_UNVERIFIED";
inline constexpr char kWorkerBinaryMissing[] = "WORKER_BINARY_MISSING";
inline constexpr char kBackendUnsupported[] = "BACKEND_UNSUPPORTED";
inline constexpr char kGpuNotFound[] = "GPU_NOT_FOUND";
inline constexpr char kNoFreePort[] = "NO_FREE_PORT";
inline constexpr char kCallbackUnavailable[] = "CALLBACK_UNAVAILABLE";
inline constexpr char kWorkerExited[] = "WORKER_EXITED";
inline constexpr char kWorkerNotReady[] = "WORKER_NOT_READY";
inline constexpr char kRestartUnavailable[] = "RESTART_UNAVAILABLE";
inline constexpr char kModelInUse[] = "MODEL_IN_USE";
inline constexpr char kNotAWorkerProcess[] = "NOT_A_WORKER_PROCESS";

}  // namespace llorch::reasons

#endif  // LLORCH_COMMON_ERROR_REASONS_H_
