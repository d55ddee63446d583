// The agent's request limits, found from the descriptors (agent/rpc/request_rules.h): every
// string and repeated field of every request has a limit, its own where the defaults do not fit
// it, and the error names the field and the limit; every request the field limits allow fits in
// the server's largest request message. And who counts as one peer for the stream limit
// (agent/server/peer_limits.h).
#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "agent/rpc/request_rules.h"
#include "agent/server/peer_limits.h"
#include "common/error_metadata.h"
#include "common/error_reasons.h"
#include "common/status.h"
#include "llorch/pool/v1/agent.pb.h"
#include "llorch/pool/v1/dev.pb.h"
#include "llorch/pool/v1/git.pb.h"
#include "llorch/pool/v1/model.pb.h"
#include "llorch/pool/v1/operation.pb.h"
#include "llorch/pool/v1/worker.pb.h"

namespace llorch {
namespace {

namespace v1 = pool::v1;
using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

// The field an error names, and its message.
std::string FieldOf(const absl::Status& status) {
  const auto metadata = GetMetadata(status);
  const auto found = metadata.find(metadata::kField);
  return found == metadata.end() ? "(none)" : found->second;
}

TEST(RequestLimitsTest, AStringOverItsFieldsDefaultLimitIsRefusedNamingFieldAndLimit) {
  v1::ListCatalogRequest request;
  request.add_ids(std::string(kMaxRequestStringBytes, 'a'));
  EXPECT_TRUE(CheckRequestRules(request).ok());
  request.add_ids(std::string(kMaxRequestStringBytes + 1, 'a'));
  const absl::Status refused = CheckRequestRules(request);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetReason(refused).value_or(""), reasons::kInvalidRequest);
  EXPECT_EQ(FieldOf(refused), "ids[1]");
  EXPECT_EQ(refused.message(), "ids[1]: is 257 bytes long; at most 256 are accepted");
}

TEST(RequestLimitsTest, ALegitimatelyLongFieldHasItsOwnLimit) {
  v1::SyncRequest sync;
  sync.set_branch(std::string(1024, 'b'));  // four times the default: accepted
  EXPECT_TRUE(CheckRequestRules(sync).ok());
  sync.set_branch(std::string(1025, 'b'));
  const absl::Status refused = CheckRequestRules(sync);
  EXPECT_EQ(FieldOf(refused), "branch");
  EXPECT_EQ(refused.message(), "branch: is 1025 bytes long; at most 1024 are accepted");
  // The override is the field's alone: the same length elsewhere keeps the default.
  v1::SyncRequest other;
  other.set_request_id(std::string(1024, 'r'));
  EXPECT_EQ(FieldOf(CheckRequestRules(other)), "request_id");
}

TEST(RequestLimitsTest, RepeatedFieldsHaveADefaultAndTheirOwnLimits) {
  v1::StopWorkerRequest stop;
  for (int i = 0; i < kMaxRequestRepeated; ++i) stop.add_pids(2 + i);
  EXPECT_TRUE(CheckRequestRules(stop).ok());
  stop.add_pids(1);
  const absl::Status refused = CheckRequestRules(stop);
  EXPECT_EQ(FieldOf(refused), "pids");
  EXPECT_EQ(refused.message(), "pids: has 257 entries; at most 256 are accepted");

  v1::UpdateSubmodulesRequest update;
  for (int i = 0; i < 1024; ++i) update.add_names("m" + std::to_string(i));
  EXPECT_TRUE(CheckRequestRules(update).ok());
  update.add_names("one-more");
  EXPECT_EQ(CheckRequestRules(update).message(),
            "names: has 1025 entries; at most 1024 are accepted");
}

// Every request message of the API.
std::set<const Descriptor*> AllRequests() {
  std::set<const Descriptor*> requests;
  for (const auto* file :
       {v1::ListCatalogRequest::descriptor()->file(), v1::GetStatusRequest::descriptor()->file(),
        v1::StopWorkerRequest::descriptor()->file(), v1::RunDoctorRequest::descriptor()->file(),
        v1::GetOperationRequest::descriptor()->file(),
        v1::GetHostInfoRequest::descriptor()->file()}) {
    for (int s = 0; s < file->service_count(); ++s) {
      for (int m = 0; m < file->service(s)->method_count(); ++m) {
        requests.insert(file->service(s)->method(m)->input_type());
      }
    }
  }
  return requests;
}

TEST(RequestLimitsTest, EveryOverrideNamesARequestFieldOfItsKind) {
  const std::set<const Descriptor*> requests = AllRequests();
  ASSERT_GT(requests.size(), 20u);
  for (const auto& [name, limit] : RequestFieldLimits()) {
    SCOPED_TRACE(name);
    const FieldDescriptor* field =
        google::protobuf::DescriptorPool::generated_pool()->FindFieldByName(name);
    ASSERT_NE(field, nullptr) << "no such field: a renamed field would lose its limit";
    EXPECT_EQ(requests.count(field->containing_type()), 1u);
    EXPECT_TRUE(limit.max_bytes > 0 || limit.max_entries > 0);
    if (limit.max_bytes > 0) {
      EXPECT_EQ(field->type(), FieldDescriptor::TYPE_STRING);
      EXPECT_EQ(MaxStringBytes(*field), limit.max_bytes);
    }
    if (limit.max_entries > 0) {
      EXPECT_TRUE(field->is_repeated());
      EXPECT_EQ(MaxEntries(*field), limit.max_entries);
    }
  }
}

// The most bytes a message of `type` within the field limits can take on the wire (an upper
// bound: every field set, every repeated field full, every number at its widest).
size_t LargestEncoding(const Descriptor& type, int depth = 0) {
  using google::protobuf::internal::WireFormatLite;
  if (depth > 8) return 0;  // no request nests this deep
  size_t total = 0;
  for (int i = 0; i < type.field_count(); ++i) {
    const FieldDescriptor& field = *type.field(i);
    const size_t tag = WireFormatLite::TagSize(field.number(), WireFormatLite::TYPE_BYTES);
    size_t value = 10;  // a varint or fixed number at its widest
    if (field.cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      value = 5 + (field.type() == FieldDescriptor::TYPE_STRING ? MaxStringBytes(field)
                                                                : kMaxRequestStringBytes);
    } else if (field.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      value = 5 + LargestEncoding(*field.message_type(), depth + 1);
    }
    total += (tag + value) * (field.is_repeated() ? MaxEntries(field) : 1);
  }
  return total;
}

TEST(RequestLimitsTest, EveryRequestWithinTheFieldLimitsFitsTheLargestMessage) {
  for (const Descriptor* request : AllRequests()) {
    SCOPED_TRACE(request->full_name());
    EXPECT_LE(LargestEncoding(*request), static_cast<size_t>(kMaxRequestMessageBytes));
  }
}

TEST(PeerStreamLimitsTest, APeerIsItsAddressWithoutThePort) {
  EXPECT_EQ(PeerStreamLimits::PeerOf("ipv4:10.0.0.5:51234"), "ipv4:10.0.0.5");
  EXPECT_EQ(PeerStreamLimits::PeerOf("ipv6:[::1]:40000"), "ipv6:[::1]");
  EXPECT_EQ(PeerStreamLimits::PeerOf("ipv6:%5B::1%5D:40000"), "ipv6:%5B::1%5D");
  EXPECT_EQ(PeerStreamLimits::PeerOf("unix:"), "unix:");
  EXPECT_EQ(PeerStreamLimits::PeerOf("unix:/run/llorch/agent.sock"), "unix:");
  EXPECT_EQ(PeerStreamLimits::PeerOf("inproc"), "");
}

TEST(PeerStreamLimitsTest, EachPeerHasItsOwnCount) {
  PeerStreamLimits limits(2);
  EXPECT_TRUE(limits.Acquire("ipv4:10.0.0.5"));
  EXPECT_TRUE(limits.Acquire("ipv4:10.0.0.5"));
  EXPECT_FALSE(limits.Acquire("ipv4:10.0.0.5"));
  EXPECT_TRUE(limits.Acquire("ipv4:10.0.0.6"));  // another peer is not held back
  limits.Release("ipv4:10.0.0.5");
  EXPECT_TRUE(limits.Acquire("ipv4:10.0.0.5"));  // a stream that ended frees its place
  EXPECT_FALSE(limits.Acquire("ipv4:10.0.0.5"));
}

}  // namespace
}  // namespace llorch
