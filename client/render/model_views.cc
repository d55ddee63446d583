#include "client/render/model_views.h"

#include <algorithm>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/render/table.h"
#include "common/units.h"

namespace llorch {
namespace {

namespace v1 = pool::v1;

Cell StateCell(v1::DownloadState state) {
  switch (state) {
    case v1::DOWNLOAD_STATE_DOWNLOADED:
      return {"downloaded", Color::kGreen};
    case v1::DOWNLOAD_STATE_UNVERIFIED:
      return {"unverified", Color::kYellow};
    case v1::DOWNLOAD_STATE_PARTIAL:
      return {"partial", Color::kYellow};
    case v1::DOWNLOAD_STATE_REFUSED:
      return {"refused", Color::kRed};
    default:
      return {"not downloaded", Color::kDim};
  }
}

// Which of the Hub's digests vouched for a manifest's bytes.
std::string VerifiedBy(const v1::Manifest& manifest) {
  if (manifest.verified_by() == "sha256") return "Hub SHA-256";
  if (manifest.verified_by() == "git-sha1") return "Hub git blob id";
  if (manifest.verified_by().empty()) return "converted here";
  return manifest.verified_by();
}

std::string DiskLine(const v1::DiskSpace& disk) {
  return absl::StrCat(FormatBytes(disk.free_bytes()), " free of ", FormatBytes(disk.total_bytes()),
                      " on the models volume (", disk.path(), ")\n");
}

// A file's path as listed: a symlink as itself, with where it points.
Cell FileCell(const v1::LocalFile& file) {
  if (!file.symlink_target().empty()) {
    return {absl::StrCat(file.path(), " -> ", file.symlink_target(), " (symlink, not followed)"),
            Color::kRed};
  }
  if (file.partial()) return {file.path() + " (partial)", Color::kYellow};
  return Cell(file.path());
}

// A file's size: a symlink has none of its own (its target is not counted).
std::string SizeText(const v1::LocalFile& file) {
  return file.symlink_target().empty() ? FormatBytes(file.size_bytes()) : "-";
}

// The files in listing order: the model's own files (its GGUF file first) before what
// <dir>/.llorch/ keeps about them (manifest, partial state), each group in the agent's order.
std::vector<const v1::LocalFile*> ListingOrder(
    const google::protobuf::RepeatedPtrField<v1::LocalFile>& files) {
  std::vector<const v1::LocalFile*> ordered;
  for (const v1::LocalFile& file : files) ordered.push_back(&file);
  const auto rank = [](const v1::LocalFile* file) {
    const std::string& path = file->path();
    if (path.find("/.llorch/") != std::string::npos || path.rfind(".llorch/", 0) == 0) return 2;
    return absl::EndsWith(path, ".gguf") ? 0 : 1;
  };
  std::stable_sort(
      ordered.begin(), ordered.end(),
      [&](const v1::LocalFile* a, const v1::LocalFile* b) { return rank(a) < rank(b); });
  return ordered;
}

// Rows of one model's files: the model id and state on its first row only.
void AddFileRows(const v1::LocalModel& model, Table* table) {
  bool first = true;
  for (const v1::LocalFile* listed : ListingOrder(model.files())) {
    const v1::LocalFile& file = *listed;
    table->AddRow({first ? Cell(model.id(), Color::kBold) : Cell(""),
                   first ? StateCell(model.state()) : Cell(""), FileCell(file), SizeText(file)});
    first = false;
  }
}

void AddUnknownRows(const google::protobuf::RepeatedPtrField<v1::LocalFile>& files, Table* table) {
  bool first = true;
  for (const v1::LocalFile& file : files) {
    table->AddRow({first ? Cell("(unknown)", Color::kYellow) : Cell(""), Cell(""), FileCell(file),
                   SizeText(file)});
    first = false;
  }
}

const std::string& IdOf(const v1::CatalogEntry& entry) { return entry.model().id(); }
const std::string& IdOf(const v1::LocalModel& model) { return model.id(); }

// "  id: text", wrapped to the style's width (the lines after the first indented further).
std::string NoteLine(const std::string& id, const std::string& text, const Style& style) {
  const size_t width = style.columns() > 2 ? style.columns() - 2 : 0;
  const std::string wrapped = Wrap(absl::StrCat(id, ": ", text), width, "    ");
  return absl::StrCat("  ", style.Paint(id, Color::kBold), wrapped.substr(id.size()), "\n");
}

// A line per refused model (CatalogEntry or LocalModel) saying why, under a heading; "" when
// none is.
template <typename Models>
std::string RefusedNotes(const Models& models, const Style& style) {
  std::string notes;
  for (const auto& model : models) {
    if (model.refused().empty()) continue;
    absl::StrAppend(&notes, NoteLine(IdOf(model), model.refused(), style));
  }
  return notes.empty() ? "" : absl::StrCat("\nRefused (symlinks are never followed):\n", notes);
}

// A pin as a cell: its short commit, "stale" when it no longer fits the catalog, "-" for none.
Cell PinCell(const v1::CatalogModel& model) {
  if (!model.has_pin()) return Cell("-");
  if (!model.pin().stale().empty()) return Cell("stale", Color::kYellow);
  return Cell(model.pin().commit().substr(0, 12));
}

}  // namespace

std::string RenderCatalog(const v1::ListCatalogResponse& response, const Style& style) {
  // A catalog without a lock file has no pins: no column for them.
  const bool pinned = std::any_of(response.entries().begin(), response.entries().end(),
                                  [](const v1::CatalogEntry& e) { return e.model().has_pin(); });
  std::vector<std::string> headers = {"ID",     "NAME",    "PARAMS",  "SIZE",
                                      "STATUS", "CONVERT", "VERIFIED"};
  if (pinned) headers.push_back("PINNED");
  headers.push_back("HUB");
  Table table(headers, {3});
  std::string notes;
  for (const v1::CatalogEntry& entry : response.entries()) {
    const v1::CatalogModel& model = entry.model();
    const bool converts = model.has_conversion();
    std::vector<Cell> row = {
        Cell(model.id(), Color::kBold),
        model.name(),
        model.params(),
        absl::StrCat("~", FormatBytes(model.size_bytes())),
        StateCell(entry.state()),
        converts ? absl::StrCat("yes (", model.conversion().output_type(), ")") : "no",
        model.verified() ? Cell("yes") : Cell("no", Color::kYellow)};
    if (pinned) row.push_back(PinCell(model));
    row.push_back(Cell(model.hub_url()));
    table.AddRow(row);
    if (!model.note().empty()) {
      notes += NoteLine(model.id(), model.note(), style);
    }
    if (model.has_pin() && !model.pin().stale().empty()) {
      notes += NoteLine(
          model.id(),
          absl::StrCat("its pin is stale: ", model.pin().stale(),
                       "; `llorch-pool models lock --update ", model.id(), "` pins it again"),
          style);
    }
  }
  std::string out = table.Render(style);
  if (!notes.empty()) absl::StrAppend(&out, "\nNotes:\n", notes);
  absl::StrAppend(&out, RefusedNotes(response.entries(), style));
  out += absl::StrCat("\nModels directory: ", response.models_dir(), "\n");
  return out;
}

std::string RenderModelList(const v1::ListModelsResponse& response, const Style& style) {
  std::string out;
  if (response.models().empty() && response.unknown_files().empty()) {
    out = absl::StrCat("No models in ", response.models_dir(),
                       " (`llorch-pool models catalog` shows what can be downloaded)\n");
  } else {
    Table table({"MODEL", "STATUS", "FILE", "SIZE"}, {3});
    for (const v1::LocalModel& model : response.models()) AddFileRows(model, &table);
    AddUnknownRows(response.unknown_files(), &table);
    out = table.Render(style) + RefusedNotes(response.models(), style);
  }
  absl::StrAppend(&out, "\nTotal ", FormatBytes(response.total_bytes()), " in ",
                  response.models_dir(), "; ", DiskLine(response.disk()));
  return out;
}

std::string RenderDiskUsage(const v1::GetDiskUsageResponse& response, const Style& style) {
  Table table({"MODEL", "STATUS", "FILES", "SIZE"}, {2, 3});
  for (const v1::LocalModel& model : response.models()) {
    table.AddRow({Cell(model.id(), Color::kBold), StateCell(model.state()),
                  absl::StrCat(model.files_size()), FormatBytes(model.total_bytes())});
  }
  if (response.unknown_bytes() > 0) {
    table.AddRow(
        {Cell("(unknown)", Color::kYellow), "", "", FormatBytes(response.unknown_bytes())});
  }
  table.AddRow({Cell("TOTAL", Color::kBold), "", "", FormatBytes(response.total_bytes())});
  return absl::StrCat(table.Render(style), RefusedNotes(response.models(), style), "\n",
                      DiskLine(response.disk()));
}

std::string RenderModelInfo(const v1::ModelInfo& info, const Style& style) {
  const v1::CatalogEntry& entry = info.entry();
  const v1::CatalogModel& model = entry.model();
  Table facts = Table::Facts();
  facts.AddRow({"id", Cell(model.id(), Color::kBold)});
  facts.AddRow({"name", model.name()});
  facts.AddRow({"description", model.description()});
  facts.AddRow({"parameters", model.params()});
  facts.AddRow({"hub", model.hub_url()});
  facts.AddRow({"repo file", absl::StrCat(model.file(), " @ ", model.revision())});
  facts.AddRow({"expected size", absl::StrCat("~", FormatBytes(model.size_bytes()))});
  facts.AddRow({"verified entry", model.verified() ? Cell("yes") : Cell("no", Color::kYellow)});
  if (!model.note().empty()) facts.AddRow({"note", model.note()});
  if (model.has_conversion()) {
    facts.AddRow({"conversion",
                  absl::StrCat(model.conversion().converter(), " ", model.conversion().script(),
                               " (", model.conversion().output_type(), ")")});
  }
  if (model.has_pin()) {
    const v1::ModelPin& pin = model.pin();
    facts.AddRow({"pinned", absl::StrCat("commit ", pin.commit(), " (", pin.lock_file(), ")")});
    for (const v1::PinnedFile& file : pin.files()) {
      facts.AddRow(
          {"pinned sha256", absl::StrCat(file.sha256(), " (", file.size_bytes(), " bytes)")});
    }
    if (!pin.stale().empty()) {
      facts.AddRow({"pin", Cell(absl::StrCat("stale: ", pin.stale()), Color::kYellow)});
    }
  } else {
    facts.AddRow({"pinned", "no"});
  }
  facts.AddRow({"status", StateCell(entry.state())});
  if (!entry.refused().empty()) facts.AddRow({"refused", Cell(entry.refused(), Color::kRed)});
  facts.AddRow({"path", entry.local_path()});
  facts.AddRow({"disk usage", FormatBytes(info.disk_bytes())});
  if (info.has_manifest()) {
    const v1::Manifest& manifest = info.manifest();
    facts.AddRow({"sha256", manifest.sha256()});
    facts.AddRow({"verified by", VerifiedBy(manifest)});
    facts.AddRow({"revision", manifest.revision_commit()});
    facts.AddRow(
        {"downloaded", absl::FormatTime("%Y-%m-%d %H:%M:%S %Z",
                                        absl::FromUnixSeconds(manifest.downloaded_at().seconds()),
                                        absl::LocalTimeZone())});
  }
  if (info.has_gguf()) {
    const v1::GgufMetadata& gguf = info.gguf();
    facts.AddRow({"gguf version", absl::StrCat(gguf.version())});
    facts.AddRow({"architecture", gguf.architecture()});
    if (!gguf.name().empty()) facts.AddRow({"gguf name", gguf.name()});
    // Keys a file does not carry are left out rather than shown as 0.
    for (const auto& [field, value] : {std::pair{"context length", gguf.context_length()},
                                       std::pair{"embedding length", gguf.embedding_length()},
                                       std::pair{"block count", gguf.block_count()}}) {
      if (value != 0) facts.AddRow({field, absl::StrCat(value)});
    }
    if (!gguf.file_type().empty()) facts.AddRow({"file type", gguf.file_type()});
    facts.AddRow({"tensors", absl::StrCat(gguf.tensor_count())});
    facts.AddRow({"parameters (counted)", absl::StrCat(gguf.parameter_count())});
  } else if (!info.gguf_error().empty()) {
    facts.AddRow({"gguf", Cell(info.gguf_error(), Color::kRed)});
  }
  std::string out = facts.Render(style);
  if (!info.files().empty()) {
    Table files({"FILE", "SIZE"}, {1});
    for (const v1::LocalFile* file : ListingOrder(info.files())) {
      files.AddRow({FileCell(*file), SizeText(*file)});
    }
    absl::StrAppend(&out, "\n", files.Render(style));
  }
  if (!info.config_json().empty())
    absl::StrAppend(&out, "\nconfig.json:\n", info.config_json(), "\n");
  return out;
}

std::string RenderLockResult(const v1::LockModelsResponse& response, const Style& style) {
  Table table({"MODEL", "PIN", "COMMIT", "SHA-256", "NOTE"});
  size_t failures = 0;
  for (const v1::LockedModel& model : response.models()) {
    std::string note;
    Cell action("");
    switch (model.action()) {
      case v1::LockedModel::ACTION_PINNED:
        action = Cell("pinned", Color::kGreen);
        break;
      case v1::LockedModel::ACTION_UPDATED:
        action = Cell("updated", Color::kGreen);
        note = absl::StrCat("was ", model.previous_commit().substr(0, 12));
        break;
      case v1::LockedModel::ACTION_KEPT:
        action = Cell("kept");
        if (!model.hub_commit().empty() && model.hub_commit() != model.pin().commit()) {
          note = absl::StrCat("the Hub's ", model.pin().revision(), " is at ",
                              model.hub_commit().substr(0, 12), " now: --update ", model.id(),
                              " moves the pin");
        }
        break;
      case v1::LockedModel::ACTION_UNPINNED:
        action = Cell("unpinned", Color::kGreen);
        break;
      case v1::LockedModel::ACTION_NOT_PINNED:
        action = Cell("not pinned");
        break;
      default:
        action = Cell("FAILED", Color::kRed);
        note = model.error();
        ++failures;
        break;
    }
    const std::string sha256 =
        model.pin().files().empty() ? "" : model.pin().files(0).sha256().substr(0, 16);
    table.AddRow(
        {Cell(model.id(), Color::kBold), action, model.pin().commit().substr(0, 12), sha256, note});
  }
  std::string out = table.Render(style);
  absl::StrAppend(&out, "\nLock file: ", response.lock_file(),
                  response.written() ? " (written)" : " (unchanged)", "\n");
  if (failures > 0) {
    absl::StrAppend(
        &out,
        style.Paint(absl::StrCat(failures, " of ", response.models_size(),
                                 failures == 1 ? " model" : " models", " could not be pinned"),
                    Color::kRed),
        "\n");
  }
  return out;
}

std::string RenderVerifyResult(const v1::VerifyModelResult& result, const Style& style,
                               const std::vector<ModelFailure>& failed) {
  Table table({"MODEL", "FILE", "RESULT", "SHA-256", "PROBLEM"});
  size_t failures = failed.size();
  for (const v1::ModelVerification& model : result.models()) {
    if (!model.ok()) ++failures;
    for (const v1::FileVerification& file : model.files()) {
      table.AddRow({Cell(model.id(), Color::kBold), file.path(),
                    !file.ok()       ? Cell("FAILED", Color::kRed)
                    : file.adopted() ? Cell("ok (adopted)", Color::kGreen)
                                     : Cell("ok", Color::kGreen),
                    file.actual_sha256().substr(0, 16), file.problem()});
    }
  }
  for (const ModelFailure& failure : failed) {
    table.AddRow(
        {Cell(failure.id, Color::kBold), "", Cell("FAILED", Color::kRed), "", failure.reason});
  }
  const size_t total = result.models_size() + failed.size();
  std::string out = table.Render(style);
  if (failures == 0) {
    absl::StrAppend(
        &out, style.Paint(absl::StrCat(total, " of ", total, " models verified"), Color::kGreen),
        "\n");
  } else {
    absl::StrAppend(
        &out,
        style.Paint(absl::StrCat(failures, " of ", total, " models failed verification"),
                    Color::kRed),
        "\n");
  }
  return out;
}

std::string RenderDownloadResult(const v1::DownloadModelResult& result, const Style& style,
                                 const std::vector<ModelFailure>& failed) {
  // A failed model's reason goes last, where it widens no other column.
  Table table({"MODEL", "RESULT", "SIZE", "FETCHED", "VERIFIED BY", "SHA-256",
               failed.empty() ? "PATH" : "PATH / PROBLEM"},
              {2, 3});
  for (const v1::DownloadedModel& model : result.models()) {
    const Cell outcome = model.already_present() ? Cell("already downloaded", Color::kGreen)
                         : model.adopted()       ? Cell("adopted", Color::kGreen)
                         : model.converted()     ? Cell("converted", Color::kGreen)
                                                 : Cell("downloaded", Color::kGreen);
    table.AddRow({Cell(model.id(), Color::kBold), outcome,
                  FormatBytes(model.manifest().size_bytes()), FormatBytes(model.bytes_fetched()),
                  VerifiedBy(model.manifest()), model.manifest().sha256().substr(0, 16),
                  model.local_path()});
  }
  for (const ModelFailure& failure : failed) {
    table.AddRow({Cell(failure.id, Color::kBold), Cell("failed", Color::kRed), "", "", "", "",
                  failure.reason});
  }
  const std::string installed =
      absl::StrCat(Plural(result.models_size(), "model"), " downloaded and verified");
  if (failed.empty()) return table.Render(style) + style.Paint(installed, Color::kGreen) + "\n";
  return table.Render(style) +
         style.Paint(absl::StrCat(failed.size(), " of ", result.models_size() + failed.size(),
                                  " models failed; ", installed),
                     Color::kRed) +
         "\n";
}

std::string RenderDeleteSummary(const std::vector<v1::DeleteModelResponse>& deleted,
                                const std::vector<std::string>& ids,
                                const std::vector<ModelFailure>& failed, const Style& style) {
  std::vector<std::string> headers = {"MODEL", "RESULT", "FILES", "FREED"};
  if (!failed.empty()) headers.push_back("PROBLEM");
  Table table(headers, {2, 3});
  uint64_t freed = 0;
  int files = 0;
  for (size_t i = 0; i < deleted.size() && i < ids.size(); ++i) {
    const v1::DeleteModelResponse& response = deleted[i];
    freed += response.freed_bytes();
    files += response.removed_size();
    table.AddRow({Cell(ids[i], Color::kBold),
                  response.removed().empty() ? Cell("nothing on disk", Color::kDim)
                                             : Cell("deleted", Color::kGreen),
                  absl::StrCat(response.removed_size()), FormatBytes(response.freed_bytes())});
  }
  for (const ModelFailure& failure : failed) {
    table.AddRow(
        {Cell(failure.id, Color::kBold), Cell("failed", Color::kRed), "", "", failure.reason});
  }
  std::string summary =
      absl::StrCat(Plural(files, "file"), " deleted, ", FormatBytes(freed), " freed");
  if (!failed.empty()) {
    summary = absl::StrCat(failed.size(), " of ", deleted.size() + failed.size(),
                           " models failed; ", summary);
  }
  return table.Render(style) + style.Paint(summary, failed.empty() ? Color::kNone : Color::kRed) +
         "\n";
}

std::string RenderDeletedFiles(const v1::DeleteModelResponse& response, const Style& style) {
  Table table({"FILE", "SIZE"}, {1});
  for (const v1::LocalFile* file : ListingOrder(response.removed())) {
    table.AddRow({FileCell(*file), SizeText(*file)});
  }
  return table.Render(style) + absl::StrCat(Plural(response.removed_size(), "file"), ", ",
                                            FormatBytes(response.freed_bytes()), "\n");
}

}  // namespace llorch
