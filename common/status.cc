#include "common/status.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace llorch {
namespace {

// Payload type URLs: private to this process, translated at the gRPC edge.
constexpr char kHintPayload[] = "llorch.pool/hint";
constexpr char kReasonPayload[] = "llorch.pool/reason";
constexpr char kMetadataPayloadPrefix[] = "llorch.pool/metadata/";

absl::Status WithPayload(absl::Status status, absl::string_view key, absl::string_view value) {
  if (!status.ok()) status.SetPayload(key, absl::Cord(value));
  return status;
}

std::optional<std::string> GetPayload(const absl::Status& status, absl::string_view key) {
  absl::optional<absl::Cord> payload = status.GetPayload(key);
  if (!payload) return std::nullopt;
  return std::string(*payload);
}

}  // namespace

absl::Status WithHint(absl::Status status, absl::string_view hint) {
  return WithPayload(std::move(status), kHintPayload, hint);
}

std::optional<std::string> GetHint(const absl::Status& status) {
  return GetPayload(status, kHintPayload);
}

absl::Status WithReason(absl::Status status, absl::string_view reason) {
  return WithPayload(std::move(status), kReasonPayload, reason);
}

std::optional<std::string> GetReason(const absl::Status& status) {
  return GetPayload(status, kReasonPayload);
}

absl::Status WithMetadata(absl::Status status, absl::string_view key, absl::string_view value) {
  return WithPayload(std::move(status), absl::StrCat(kMetadataPayloadPrefix, key), value);
}

std::map<std::string, std::string> GetMetadata(const absl::Status& status) {
  std::map<std::string, std::string> metadata;
  status.ForEachPayload([&](absl::string_view url, const absl::Cord& value) {
    if (absl::ConsumePrefix(&url, kMetadataPayloadPrefix)) {
      metadata.emplace(std::string(url), std::string(value));
    }
  });
  return metadata;
}

absl::Status WithPrefix(const absl::Status& status, absl::string_view prefix) {
  if (status.ok()) return status;
  absl::Status prefixed(status.code(), absl::StrCat(prefix, ": ", status.message()));
  status.ForEachPayload(
      [&](absl::string_view key, const absl::Cord& value) { prefixed.SetPayload(key, value); });
  return prefixed;
}

}  // namespace llorch
