#include "agent/models/model_download.h"

#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/models/store/model_lock.h"
#include "agent/models/store/sha256_file.h"
#include "agent/ops/byte_progress.h"
#include "common/atomic_file.h"
#include "common/error_metadata.h"
#include "common/error_reasons.h"
#include "common/status.h"
#include "common/units.h"
#include "nlohmann/json.hpp"

namespace llorch {
namespace fs = std::filesystem;
namespace v1 = pool::v1;
namespace {

void Narrate(Operation& op, absl::string_view text) { op.Log(v1::LogLine::STREAM_AGENT, text); }

HubClient::RetryLog RetryNarration(Operation& op) {
  return [&op](absl::string_view why, absl::Duration wait) {
    Narrate(op, absl::StrCat(why, "; retrying in ",
                             absl::FormatDuration(absl::Trunc(wait, absl::Milliseconds(100)))));
  };
}

std::function<bool()> CancelledBy(const Operation& op) {
  return [&op] { return op.cancel_requested(); };
}

// The model's lock for `op`. While someone else holds it the operation is PENDING, waiting for
// the holder (its operation id when it is another operation of this agent, else its pid); it is
// RUNNING once it has the lock.
absl::StatusOr<ModelLock> LockModel(const ModelStore& store, const CatalogModel& model,
                                    absl::Duration poll, Operation& op) {
  absl::StatusOr<ModelLock> lock = ModelLock::Acquire(
      store, model, LockHolder::OfThisProcess(op.id(), op.kind()), CancelledBy(op),
      [&](const LockHolder& holder) {
        v1::WaitingFor waiting;
        waiting.set_resource(absl::StrCat("model ", model.id));
        if (holder.InThisProcess()) {
          waiting.set_operation_id(holder.operation_id);
        } else {
          waiting.set_pid(holder.pid);
        }
        waiting.set_description(holder.Describe());
        op.WaitFor(waiting);
      },
      poll);
  if (lock.ok()) op.SetRunning();
  return lock;
}

// "SHA-256 <hex>" or "git blob id <hex> (not an LFS file)": what the Hub vouches for `remote` by.
std::string HubDigestText(const RemoteFile& remote) {
  return remote.sha256.empty() ? absl::StrCat("git blob id ", remote.git_sha1, " (not an LFS file)")
                               : absl::StrCat("SHA-256 ", remote.sha256);
}

absl::StatusOr<PartialFile> ModelPartial(const ModelStore& store, const CatalogModel& model) {
  absl::StatusOr<DirFd> dir = store.OpenDir(model, ModelStore::kMetadataDir, true);
  if (!dir.ok()) return dir.status();
  return PartialFile{*std::move(dir), model.file + ".partial"};
}

// An error about the Hub's answer for `model`, with what the catalog says of doubtful entries.
absl::Status WithCatalogNote(absl::Status status, const CatalogModel& model) {
  if (status.ok() || model.verified || model.note.empty() || !absl::IsNotFound(status)) {
    return status;
  }
  const std::string hint = GetHint(status).value_or("");
  return WithHint(std::move(status), absl::StrCat("the catalog marks ", model.id, " unverified: ",
                                                  model.note, hint.empty() ? "" : "; ", hint));
}

absl::Status CheckFreeSpace(const ModelStore& store, uint64_t needed, absl::string_view what) {
  absl::StatusOr<DiskSpace> space = store.FreeSpace();
  if (!space.ok()) return space.status();
  if (space->free_bytes >= needed) return absl::OkStatus();
  absl::Status status = WithReason(
      WithHint(absl::ResourceExhaustedError(absl::StrCat(
                   "not enough disk space for ", what, ": it needs ", FormatBytes(needed), " (",
                   needed, " bytes), ", store.models_dir().string(), " has ",
                   FormatBytes(space->free_bytes), " free")),
               "free space on that volume (`llorch-pool models du` shows what the models use), "
               "or point models_dir at a bigger one"),
      reasons::kNotEnoughSpace);
  status = WithMetadata(std::move(status), metadata::kPath, store.models_dir().string());
  status = WithMetadata(std::move(status), metadata::kNeededBytes, absl::StrCat(needed));
  return WithMetadata(std::move(status), metadata::kFreeBytes, absl::StrCat(space->free_bytes));
}

// FetchFile with its progress as phase `phase` (bytes present, after `base` bytes of earlier
// files of the same phase, out of `total`), then, when `hash_phase` and the hash has not caught
// up when the last byte arrives, phase "hash".
absl::StatusOr<FetchResult> FetchWithProgress(const HubClient& hub, const RemoteFile& remote,
                                              const PartialFile& partial,
                                              const FetchOptions& options, Operation& op,
                                              ByteProgress& progress, uint64_t base,
                                              bool hash_phase) {
  std::optional<ByteProgress> hashing;
  FetchHooks hooks;
  hooks.cancelled = CancelledBy(op);
  hooks.log = [&op](absl::string_view line) { Narrate(op, line); };
  hooks.on_progress = [&](const FetchProgress& fetch) {
    const bool hash_lags = hash_phase && fetch.present == fetch.size && fetch.hashed < fetch.size;
    if (!hashing && !hash_lags) {
      progress.Report(base + fetch.present);
      return;
    }
    if (!hashing) {
      progress.Report(base + fetch.present);  // the download phase ends complete
      hashing.emplace(op, "hash", fetch.size, remote.path);
    }
    hashing->Report(fetch.hashed);
  };
  return FetchFile(hub, remote, partial, options, hooks);
}

// Adopts a file that is on disk without a manifest when its bytes are the ones `remote`
// describes: the Hub's, or (`reference` "the lock's pin") the pinned ones.
absl::StatusOr<bool> AdoptIfHubs(const ModelStore& store, const CatalogModel& model,
                                 const RemoteFile& remote, const LocalModel& local, Operation& op,
                                 absl::string_view reference = "the Hub") {
  if (local.bytes != remote.size) return false;
  Narrate(op,
          absl::StrCat(local.path.string(), " has no manifest: checking it against ", reference));
  absl::StatusOr<Manifest> adopted = store.Install(model, StagedFile::InPlace("the file on disk"),
                                                   InstallSource{remote.commit, remote.etag}, op);
  // Other bytes than the Hub's, or no GGUF file: fetched again, the file staying meanwhile. No
  // digest to check against: the fetch refuses that.
  const std::optional<std::string> reason = GetReason(adopted.status());
  if (absl::IsDataLoss(adopted.status()) || reason == reasons::kHubNoDigest) {
    Narrate(op, reason == reasons::kHashMismatch
                    ? absl::StrCat("the file on disk does not match ", reference, "'s ",
                                   HubDigestText(remote),
                                   ": downloading it again (the old file stays until the new "
                                   "one is verified)")
                    : std::string(adopted.status().message()));
    return false;
  }
  if (!adopted.ok()) return adopted.status();
  Narrate(op, absl::StrCat("the file on disk is ", reference, "'s (", HubDigestText(remote),
                           " matches): adopted, nothing downloaded"));
  return true;
}

// --- Pins (catalog_lock.h) ---

// A pinned model that cannot be installed as pinned: what differs, and the two ways out.
absl::Status PinError(const CatalogModel& model, const DownloadSettings& settings,
                      absl::string_view what) {
  return WithMetadata(
      WithReason(
          WithHint(absl::FailedPreconditionError(absl::StrCat(model.id, " is pinned in ",
                                                              settings.pins->path(), ": ", what,
                                                              "; nothing was installed")),
                   absl::StrCat("`llorch-pool models lock --update ", model.id,
                                "` pins what the Hub has now, or `llorch-pool models lock --unpin ",
                                model.id, "` removes the pin")),
          reasons::kPinMismatch),
      metadata::kModel, model.id);
}

// The Hub's record of the pinned file, as if it had answered it: what adoption and installing
// check the bytes against.
RemoteFile PinnedRecord(const CatalogModel& model, const ModelPin& pin, const PinnedFile& file) {
  RemoteFile record;
  record.repo = model.repo;
  record.revision = pin.commit;
  record.path = file.name;
  record.commit = pin.commit;
  record.etag = file.sha256;
  record.sha256 = file.sha256;
  record.size = file.size;
  return record;
}

// "SHA-256 <hex> (<n> bytes) at commit <sha>"
std::string PinText(absl::string_view sha256, uint64_t size, absl::string_view commit) {
  return absl::StrCat("SHA-256 ", sha256, " (", size, " bytes) at commit ", commit);
}

// Checks the Hub's answer at the pinned commit against the pin.
absl::Status CheckAgainstPin(const CatalogModel& model, const DownloadSettings& settings,
                             const ModelPin& pin, const PinnedFile& pinned,
                             const RemoteFile& remote) {
  if (remote.commit == pin.commit && remote.sha256 == pinned.sha256 && remote.size == pinned.size) {
    return absl::OkStatus();
  }
  return PinError(
      model, settings,
      absl::StrCat(
          "the Hub now gives ", model.file, " as ",
          remote.sha256.empty() ? HubDigestText(remote) : absl::StrCat("SHA-256 ", remote.sha256),
          " (", remote.size, " bytes) at commit ", remote.commit, ", the lock pins ",
          PinText(pinned.sha256, pinned.size, pin.commit)));
}

// The Hub's answer for `path` at the pinned commit; a commit the Hub lacks is a PinError.
absl::StatusOr<RemoteFile> ResolvePinned(const HubClient& hub, const CatalogModel& model,
                                         const DownloadSettings& settings, const ModelPin& pin,
                                         const std::string& path, Operation& op) {
  absl::StatusOr<RemoteFile> remote =
      hub.Resolve(model.repo, pin.commit, path, CancelledBy(op), RetryNarration(op));
  if (absl::IsNotFound(remote.status())) {
    return PinError(model, settings,
                    absl::StrCat("the Hub has no ", path, " at the pinned commit ", pin.commit,
                                 " (", remote.status().message(), ")"));
  }
  return remote;
}

// Tells whether the catalog revision still points at the pinned commit; when it moved on, says
// so (the pinned bytes are installed anyway) and records the Hub's commit in `out`.
void ReportHubMoved(const HubClient& hub, const CatalogModel& model, const ModelPin& pin,
                    const std::string& path, Operation& op, v1::DownloadedModel* out) {
  if (model.revision == pin.commit) return;
  absl::StatusOr<RemoteFile> now =
      hub.Resolve(model.repo, model.revision, path, CancelledBy(op), RetryNarration(op));
  if (!now.ok()) {
    Narrate(op, absl::StrCat("could not ask where ", model.revision, " of ", model.repo,
                             " is now: ", now.status().message()));
    return;
  }
  if (now->commit == pin.commit) return;
  out->set_hub_commit(now->commit);
  Narrate(op, absl::StrCat("the Hub moved on: ", model.revision, " of ", model.repo,
                           " is at commit ", now->commit, ", the lock pins ", pin.commit,
                           "; installing the pinned bytes (`llorch-pool models lock --update ",
                           model.id, "` moves the pin)"));
}

// True when the installed manifest records the pinned bytes (for a converted model: its
// source commit).
bool ManifestIsPinned(const Manifest& manifest, const CatalogModel& model, const ModelPin& pin) {
  if (model.conversion) return manifest.revision_commit == pin.commit;
  const PinnedFile* file = pin.File(model.file);
  return file != nullptr && manifest.sha256 == file->sha256 && manifest.size == file->size;
}

// The native backend for a model whose Hub file is GGUF.
absl::StatusOr<Manifest> DownloadGguf(const ModelStore& store, const CatalogModel& model,
                                      const LocalModel& local, bool force,
                                      const DownloadSettings& settings, const ModelPin* pin,
                                      Operation& op, v1::DownloadedModel* out) {
  const HubClient hub(settings.hub);
  const PinnedFile* pinned = pin ? pin->File(model.file) : nullptr;
  if (pinned && local.state == LocalState::kUnverified && !force) {
    // The pin vouches for the bytes: no need to ask the Hub (which may be unreachable).
    absl::StatusOr<bool> adopted =
        AdoptIfHubs(store, model, PinnedRecord(model, *pin, *pinned), local, op, "the lock's pin");
    if (!adopted.ok()) return adopted.status();
    if (*adopted) {
      out->set_adopted(true);
      return *store.ReadManifest(model);
    }
  }
  const std::string revision = pinned ? pin->commit : model.revision;
  Narrate(op, absl::StrCat("resolving ", model.file, " in ", model.repo, " at ",
                           pinned ? "the pinned commit " : "revision ", revision, " (",
                           settings.hub.endpoint, ")"));
  absl::StatusOr<RemoteFile> remote =
      pinned ? ResolvePinned(hub, model, settings, *pin, model.file, op)
             : hub.Resolve(model.repo, revision, model.file, CancelledBy(op), RetryNarration(op));
  if (!remote.ok()) return WithCatalogNote(remote.status(), model);
  Narrate(op, absl::StrCat(model.file, ": ", FormatBytes(remote->size), " (", remote->size,
                           " bytes) at commit ", remote->commit, ", ", HubDigestText(*remote)));
  if (pinned) {
    if (absl::Status same = CheckAgainstPin(model, settings, *pin, *pinned, *remote); !same.ok()) {
      return same;
    }
    ReportHubMoved(hub, model, *pin, model.file, op, out);
  } else if (local.state == LocalState::kUnverified && !force) {
    absl::StatusOr<bool> adopted = AdoptIfHubs(store, model, *remote, local, op);
    if (!adopted.ok()) return adopted.status();
    if (*adopted) {
      out->set_adopted(true);
      return *store.ReadManifest(model);
    }
  }
  absl::StatusOr<PartialFile> opened = ModelPartial(store, model);
  if (!opened.ok()) return opened.status();
  const PartialFile& partial = *opened;
  // What a partial already holds on disk (kept or discarded, its space is the download's).
  const uint64_t allocated = std::min(PartialAllocatedBytes(partial), remote->size);
  const std::string what = allocated == 0
                               ? model.file
                               : absl::StrCat(model.file, " (beyond the ", FormatBytes(allocated),
                                              " its partial download holds)");
  if (absl::Status space = CheckFreeSpace(store, remote->size - allocated, what); !space.ok()) {
    return space;
  }
  absl::StatusOr<FetchResult> fetched;
  for (int attempt = 0;; ++attempt) {
    ByteProgress progress(op, "download", remote->size, model.file);
    fetched = FetchWithProgress(hub, *remote, partial, settings.fetch, op, progress, 0,
                                /*hash_phase=*/true);
    if (fetched.ok() || GetReason(fetched.status()) != reasons::kUpstreamChanged || attempt > 0)
      break;
    Narrate(op, absl::StrCat(fetched.status().message(), ": starting over"));
    remote = hub.Resolve(model.repo, revision, model.file, CancelledBy(op), RetryNarration(op));
    if (!remote.ok()) return remote.status();
    if (pinned) {
      if (absl::Status same = CheckAgainstPin(model, settings, *pin, *pinned, *remote);
          !same.ok()) {
        return same;
      }
    }
  }
  if (!fetched.ok()) return fetched.status();
  out->set_bytes_fetched(fetched->fetched);
  absl::StatusOr<Manifest> installed =
      store.Install(model,
                    StagedFile{&partial.dir, partial.name,
                               absl::StrCat("the download of ", model.repo, "/", model.file),
                               FileHashes{fetched->sha256, fetched->git_sha1}},
                    InstallSource{remote->commit, remote->etag}, op);
  // Refused bytes go; after a failure to move them into place they stay, to install next time.
  if (installed.ok() || absl::IsDataLoss(installed.status())) DiscardPartial(partial);
  return installed;
}

// --- Converted models ---

// A record of source files is a line per file; anything larger was not written by us.
constexpr uint64_t kMaxSourcesRecordBytes = 16 << 20;

// The record of verified source files: path -> the Hub's id of its bytes (SHA-256 or blob id).
struct SourcesRecord {
  std::string commit;
  std::map<std::string, std::string> files;
};

SourcesRecord ReadSourcesRecord(const DirFd& dir, const std::string& name) {
  SourcesRecord record;
  absl::StatusOr<std::string> text = dir.ReadFile(name, kMaxSourcesRecordBytes);
  if (!text.ok()) return record;
  nlohmann::json json = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return record;
  record.commit = json.value("commit", "");
  if (json.contains("files") && json["files"].is_object()) {
    for (const auto& [file, id] : json["files"].items()) {
      if (id.is_string()) record.files[file] = id.get<std::string>();
    }
  }
  return record;
}

absl::Status WriteSourcesRecord(const DirFd& dir, const std::string& name,
                                const SourcesRecord& record) {
  const nlohmann::json json = {{"commit", record.commit}, {"files", record.files}};
  return WriteFileAtomically(dir, name, json.dump(2) + "\n");
}

bool MatchesAny(const std::string& path, const std::vector<std::string>& patterns) {
  for (const std::string& pattern : patterns) {
    if (fnmatch(pattern.c_str(), path.c_str(), FNM_PATHNAME) == 0) return true;
  }
  return false;
}

// Removes files in source/ that are not among `sources` (an earlier commit's shards, say), so
// the converter, which globs the directory, sees one snapshot.
void RemoveStaleSources(const DirFd& source_dir, const std::vector<RemoteTreeEntry>& sources,
                        Operation& op) {
  std::set<std::string> wanted;
  for (const RemoteTreeEntry& entry : sources) wanted.insert(entry.path);
  for (const DirFd::TreeEntry& entry : source_dir.ListTree()) {
    if (!S_ISREG(entry.info.st_mode) || wanted.count(entry.path)) continue;
    absl::StatusOr<DirFd> dir = source_dir.OpenParentOf(entry.path, false);
    if (!dir.ok()) continue;
    Narrate(op, absl::StrCat("removing ", source_dir.PathOf(entry.path).string(),
                             ": not part of this snapshot"));
    dir->Unlink(fs::path(entry.path).filename().string()).IgnoreError();
  }
}

// Fetches the source files of a converted model into <dir>/source/; returns the commit.
absl::StatusOr<std::string> FetchSources(const ModelStore& store, const CatalogModel& model,
                                         const DownloadSettings& settings, const ModelPin* pin,
                                         Operation& op, v1::DownloadedModel* out) {
  const HubClient hub(settings.hub);
  // config.json first: the commit it resolves to pins the listing and every other file to one
  // snapshot of the repository (with a pin: the pinned commit).
  const std::string revision = pin ? pin->commit : model.revision;
  Narrate(op,
          absl::StrCat("resolving ", model.repo, " at ", pin ? "the pinned commit " : "revision ",
                       revision, " (", settings.hub.endpoint, ")"));
  absl::StatusOr<RemoteFile> config =
      pin ? ResolvePinned(hub, model, settings, *pin, "config.json", op)
          : hub.Resolve(model.repo, revision, "config.json", CancelledBy(op), RetryNarration(op));
  if (config.ok() && pin && config->commit != pin->commit) {
    return PinError(model, settings,
                    absl::StrCat("the Hub answers for commit ", config->commit,
                                 " when asked for the pinned commit ", pin->commit));
  }
  if (config.ok() && pin) ReportHubMoved(hub, model, *pin, "config.json", op, out);
  if (!config.ok() && GetReason(config.status()) == reasons::kPinMismatch) return config.status();
  if (!config.ok()) {
    return WithCatalogNote(
        WithPrefix(config.status(),
                   absl::StrCat("cannot convert ", model.id, " without the source's config.json")),
        model);
  }
  const std::string commit = config->commit;
  absl::StatusOr<std::vector<RemoteTreeEntry>> listing =
      hub.ListFiles(model.repo, commit, CancelledBy(op), RetryNarration(op));
  if (!listing.ok()) return listing.status();
  std::vector<RemoteTreeEntry> sources;
  for (RemoteTreeEntry& entry : *listing) {
    if (entry.path == "config.json" || MatchesAny(entry.path, model.conversion->source_patterns)) {
      sources.push_back(std::move(entry));
    }
  }
  Narrate(op, absl::StrCat(model.repo, " at commit ", commit, ": ", sources.size(), " of its ",
                           listing->size(),
                           " files match the catalog's source "
                           "patterns (",
                           absl::StrJoin(model.conversion->source_patterns, ", "), ")"));

  absl::StatusOr<DirFd> metadata_dir = store.OpenDir(model, ModelStore::kMetadataDir, true);
  if (!metadata_dir.ok()) return metadata_dir.status();
  // source/ is made when the first file arrives; a symlink there is refused now.
  absl::StatusOr<DirFd> source_dir = store.OpenDir(model, "source", false);
  if (!source_dir.ok() && !absl::IsNotFound(source_dir.status())) return source_dir.status();
  const std::string record_name = model.file + ".sources.json";
  const std::string partial_dir = model.file + ".partial-source";
  SourcesRecord record = ReadSourcesRecord(*metadata_dir, record_name);
  uint64_t total = 0;
  uint64_t needed = model.size_bytes;  // the converted output
  auto have = [&](const RemoteTreeEntry& entry) {
    auto it = record.files.find(entry.path);
    const std::string id = entry.sha256.empty() ? entry.blob_id : entry.sha256;
    if (it == record.files.end() || it->second != id || !source_dir.ok()) return false;
    absl::StatusOr<DirFd> dir = source_dir->OpenParentOf(entry.path, false);
    std::optional<struct stat> info =
        dir.ok() ? dir->Stat(fs::path(entry.path).filename().string()) : std::nullopt;
    return info && S_ISREG(info->st_mode) && static_cast<uint64_t>(info->st_size) == entry.size;
  };
  for (const RemoteTreeEntry& entry : sources) {
    total += entry.size;
    if (!have(entry)) needed += entry.size;
  }
  if (absl::Status space = CheckFreeSpace(
          store, needed, absl::StrCat(model.id, "'s source files and the converted file"));
      !space.ok()) {
    return space;
  }
  ByteProgress progress(op, "fetch", total, model.repo);
  uint64_t done = 0;
  record.commit = commit;
  for (const RemoteTreeEntry& entry : sources) {
    if (have(entry)) {  // the same bytes as an earlier run verified
      done += entry.size;
      progress.Report(done);
      continue;
    }
    absl::StatusOr<RemoteFile> remote =
        entry.path == "config.json"
            ? config
            : hub.Resolve(model.repo, commit, entry.path, CancelledBy(op), RetryNarration(op));
    if (!remote.ok()) return remote.status();
    const std::string leaf = fs::path(entry.path).filename().string();
    absl::StatusOr<DirFd> partial_parent =
        metadata_dir->OpenParentOf(absl::StrCat(partial_dir, "/", entry.path), true);
    if (!partial_parent.ok()) return partial_parent.status();
    const PartialFile partial{*std::move(partial_parent), leaf};
    absl::StatusOr<FetchResult> fetched = FetchWithProgress(
        hub, *remote, partial, settings.fetch, op, progress, done, /*hash_phase=*/false);
    if (!fetched.ok()) return fetched.status();
    out->set_bytes_fetched(out->bytes_fetched() + fetched->fetched);
    if (absl::StatusOr<std::string> checked =
            CheckAgainstHub(remote->path, {fetched->sha256, fetched->git_sha1}, remote->etag);
        !checked.ok()) {
      DiscardPartial(partial);
      return checked.status();
    }
    if (!source_dir.ok()) source_dir = store.OpenDir(model, "source", true);
    if (!source_dir.ok()) return source_dir.status();
    absl::StatusOr<DirFd> target_dir = source_dir->OpenParentOf(entry.path, true);
    if (!target_dir.ok()) return target_dir.status();
    if (absl::Status status = InstallPartial(partial, *target_dir, leaf); !status.ok()) {
      return status;
    }
    record.files[entry.path] = remote->sha256.empty() ? remote->git_sha1 : remote->sha256;
    if (absl::Status status = WriteSourcesRecord(*metadata_dir, record_name, record);
        !status.ok()) {
      return status;
    }
    done += entry.size;
    progress.Report(done);
  }
  metadata_dir->RemoveTree(partial_dir).IgnoreError();
  if (source_dir.ok()) RemoveStaleSources(*source_dir, sources, op);
  Narrate(op, absl::StrCat(sources.size(), " source files of ", model.repo, " (",
                           FormatBytes(total), ") at commit ", commit, " in ",
                           (store.models_dir() / model.dir / "source").string()));
  return commit;
}

absl::StatusOr<Manifest> DownloadAndConvert(const ModelStore& store, const CatalogModel& model,
                                            const DownloadSettings& settings, const ModelPin* pin,
                                            Operation& op, v1::DownloadedModel* out) {
  // Before gigabytes of sources arrive: can this host convert at all?
  if (absl::StatusOr<ConverterProgram> converter = FindConverter(model, settings.convert);
      !converter.ok()) {
    return converter.status();
  }
  absl::StatusOr<std::string> commit = FetchSources(store, model, settings, pin, op, out);
  if (!commit.ok()) return commit.status();
  ConverterOptions convert = settings.convert;
  convert.source_commit = *commit;
  absl::StatusOr<Manifest> manifest = ConvertModel(store, model, convert, op);
  if (manifest.ok()) out->set_converted(true);
  return manifest;
}

// The hf backend; a pinned model is fetched from its pinned commit, and kept only when its bytes
// are the pinned ones.
absl::StatusOr<Manifest> DownloadPinnedWithHfCli(const ModelStore& store, const CatalogModel& model,
                                                 const DownloadSettings& settings,
                                                 const ModelPin* pin, Operation& op) {
  if (pin == nullptr) return DownloadWithHfCli(store, model, settings.hf, op);
  CatalogModel at_pin = model;
  at_pin.revision = pin->commit;
  absl::StatusOr<Manifest> manifest = DownloadWithHfCli(store, at_pin, settings.hf, op);
  if (!manifest.ok() || ManifestIsPinned(*manifest, model, *pin)) return manifest;
  store.RemoveManifest(model).IgnoreError();
  const PinnedFile& pinned = *pin->File(model.file);
  return PinError(model, settings,
                  absl::StrCat("hf downloaded ",
                               PinText(manifest->sha256, manifest->size, manifest->revision_commit),
                               ", the lock pins ", PinText(pinned.sha256, pinned.size, pin->commit),
                               " (the file stays, unverified)"));
}

}  // namespace

void ToProto(const Manifest& manifest, v1::Manifest* out) {
  out->set_repo(manifest.repo);
  out->set_revision_commit(manifest.revision_commit);
  out->set_file(manifest.file);
  out->set_size_bytes(manifest.size);
  out->set_sha256(manifest.sha256);
  out->set_upstream_etag(manifest.upstream_etag);
  out->set_verified_by(manifest.verified_by);
  out->mutable_downloaded_at()->set_seconds(manifest.downloaded_at);
}

absl::StatusOr<v1::DownloadedModel> DownloadCatalogModel(const ModelStore& store,
                                                         const CatalogModel& model, bool force,
                                                         const DownloadSettings& settings,
                                                         Operation& op) {
  absl::StatusOr<ModelLock> lock = LockModel(store, model, settings.lock_poll, op);
  if (!lock.ok()) return lock.status();
  absl::StatusOr<std::string> former = store.RenameFormerFile(model);
  if (!former.ok()) return former.status();
  if (!former->empty()) {
    Narrate(op, absl::StrCat("found ", *former, ", the name older hosts gave ", model.file,
                             ": renamed it to ", model.file));
  }
  const LocalModel local = store.Inspect(model);
  if (local.state == LocalState::kRefused) return local.refused;
  v1::DownloadedModel out;
  out.set_id(model.id);
  out.set_local_path(store.ModelPath(model).string());
  const std::optional<ModelPin> pin = settings.pins ? settings.pins->Find(model.id) : std::nullopt;
  if (pin) {
    if (std::string stale = PinMismatch(*pin, model); !stale.empty()) {
      return PinError(model, settings,
                      absl::StrCat("the pin no longer fits the catalog (", stale, ")"));
    }
    out.set_pinned(true);
  }
  std::optional<Manifest> present = store.ReadManifest(model);
  if (local.state == LocalState::kDownloaded && present && !force && pin &&
      !ManifestIsPinned(*present, model, *pin)) {
    Narrate(op, absl::StrCat("the installed ", model.file, " is ",
                             PinText(present->sha256, present->size, present->revision_commit),
                             ", not the pinned bytes: installing the pinned ones (the old file "
                             "stays until they are verified)"));
  } else if (local.state == LocalState::kDownloaded && present && !force) {
    Narrate(op, absl::StrCat(model.id, " is already downloaded and verified (SHA-256 ",
                             present->sha256, "); --force downloads it again"));
    ToProto(*present, out.mutable_manifest());
    out.set_already_present(true);
    return out;
  }
  absl::StatusOr<Manifest> manifest;
  if (model.conversion) {
    manifest = DownloadAndConvert(store, model, settings, pin ? &*pin : nullptr, op, &out);
  } else if (settings.backend == "hf") {
    manifest = DownloadPinnedWithHfCli(store, model, settings, pin ? &*pin : nullptr, op);
  } else {
    manifest = DownloadGguf(store, model, local, force, settings, pin ? &*pin : nullptr, op, &out);
  }
  if (!manifest.ok()) return manifest.status();
  ToProto(*manifest, out.mutable_manifest());
  return out;
}

void RunDownload(const ModelStore& store, const std::vector<const CatalogModel*>& models,
                 bool force, const DownloadSettings& settings, Operation& op,
                 const InstalledModel& installed) {
  v1::DownloadModelResult result;
  for (const CatalogModel* model : models) {
    absl::StatusOr<v1::DownloadedModel> downloaded =
        DownloadCatalogModel(store, *model, force, settings, op);
    if (!downloaded.ok()) {
      op.Fail(WithMetadata(
          models.size() > 1 ? WithPrefix(downloaded.status(), model->id) : downloaded.status(),
          metadata::kModel, model->id));
      return;
    }
    if (installed && !downloaded->already_present()) installed(*model, downloaded->manifest());
    *result.add_models() = std::move(*downloaded);
  }
  op.Succeed(result);
}

UpstreamLookup HubLookup(const HubOptions& options) {
  return [options](const CatalogModel& model) -> absl::StatusOr<UpstreamFile> {
    if (model.conversion) {
      return absl::NotFoundError(absl::StrCat(model.file, " is converted locally from ", model.repo,
                                              "; the Hub has no record of it"));
    }
    absl::StatusOr<RemoteFile> remote =
        HubClient(options).Resolve(model.repo, model.revision, model.file);
    if (!remote.ok()) return remote.status();
    if (remote->sha256.empty()) {
      return absl::FailedPreconditionError(absl::StrCat("the Hub gives no SHA-256 for ", model.file,
                                                        " (not an LFS file: its etag is a git "
                                                        "blob id); `llorch-pool models download ",
                                                        model.id, "` checks it against that"));
    }
    return UpstreamFile{remote->sha256, remote->size, remote->commit, remote->etag};
  };
}

}  // namespace llorch
