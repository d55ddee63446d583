#include "tests/support/grpc_probe.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>

#include <chrono>

#include "absl/strings/str_cat.h"

namespace llorch::testing {
namespace {

using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;

grpc::ByteBuffer ToBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string FromBuffer(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const grpc::Slice& slice : slices) {
    out.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return out;
}

// A length-delimited field `number` holding `payload`, in protobuf wire format.
std::string LengthDelimited(int number, const std::string& payload) {
  std::string out;
  out.push_back(static_cast<char>((number << 3) | 2));
  out.push_back(static_cast<char>(payload.size()));  // payloads here are < 128 bytes
  return out + payload;
}

// Waits for the next completion; every step of these calls is sequential.
bool Await(grpc::CompletionQueue& cq) {
  void* tag = nullptr;
  bool ok = false;
  return cq.Next(&tag, &ok) && ok;
}

std::unique_ptr<grpc::ClientContext> ContextWithDeadline(
    std::chrono::seconds timeout = std::chrono::seconds(10)) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + timeout);
  return context;
}

// The status of a HealthCheckResponse { status = 1 }.
absl::StatusOr<int> ServingStatus(const grpc::ByteBuffer& response) {
  UnknownFieldSet fields;
  const std::string bytes = FromBuffer(response);
  if (!fields.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError("unparseable HealthCheckResponse");
  }
  for (int i = 0; i < fields.field_count(); ++i) {
    if (fields.field(i).number() == 1) return static_cast<int>(fields.field(i).varint());
  }
  return 0;  // proto3 default: UNKNOWN
}

absl::Status FromGrpc(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

// HealthCheckRequest { service = 1 }
grpc::ByteBuffer HealthRequest(const std::string& service) {
  return ToBuffer(service.empty() ? "" : LengthDelimited(1, service));
}

}  // namespace

absl::StatusOr<int> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                const std::string& service) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  auto context = ContextWithDeadline();
  auto call = stub.PrepareUnaryCall(context.get(), "/grpc.health.v1.Health/Check",
                                    HealthRequest(service), &cq);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, nullptr);
  Await(cq);
  if (!status.ok()) return FromGrpc(status);
  return ServingStatus(response);
}

struct HealthWatch::Call {
  grpc::CompletionQueue cq;
  std::unique_ptr<grpc::ClientContext> context = ContextWithDeadline(std::chrono::seconds(60));
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> stream;
  bool finished = false;  // Finish() was called
};

HealthWatch::HealthWatch(const std::shared_ptr<grpc::Channel>& channel, const std::string& service)
    : call_(std::make_unique<Call>()) {
  grpc::GenericStub stub(channel);
  call_->stream =
      stub.PrepareCall(call_->context.get(), "/grpc.health.v1.Health/Watch", &call_->cq);
  call_->stream->StartCall(nullptr);
  if (!Await(call_->cq)) return;  // Next() reports the status
  call_->stream->Write(HealthRequest(service), nullptr);
  Await(call_->cq);
  call_->stream->WritesDone(nullptr);
  Await(call_->cq);
}

HealthWatch::~HealthWatch() {
  if (!call_->finished) {
    call_->context->TryCancel();
    grpc::Status status;
    call_->stream->Finish(&status, nullptr);
    Await(call_->cq);
  }
  call_->cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (call_->cq.Next(&tag, &ok)) {
  }
}

absl::StatusOr<int> HealthWatch::Next() {
  if (call_->finished) return absl::OutOfRangeError("the health stream has ended");
  grpc::ByteBuffer response;
  call_->stream->Read(&response, nullptr);
  if (Await(call_->cq)) return ServingStatus(response);
  grpc::Status status;
  call_->stream->Finish(&status, nullptr);
  Await(call_->cq);
  call_->finished = true;
  if (status.ok()) return absl::OutOfRangeError("the health stream ended");
  return FromGrpc(status);
}

absl::StatusOr<std::vector<std::string>> ListServicesByReflection(
    const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  auto context = ContextWithDeadline();
  auto stream = stub.PrepareCall(
      context.get(), "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  stream->StartCall(nullptr);
  if (!Await(cq)) return absl::UnavailableError("reflection call did not start");
  // ServerReflectionRequest { list_services = 7: "" }
  stream->Write(ToBuffer(LengthDelimited(7, "")), nullptr);
  Await(cq);
  stream->WritesDone(nullptr);
  Await(cq);
  grpc::ByteBuffer response;
  stream->Read(&response, nullptr);
  const bool got_response = Await(cq);
  grpc::Status status;
  stream->Finish(&status, nullptr);
  Await(cq);
  if (!status.ok()) return FromGrpc(status);
  if (!got_response) return absl::DataLossError("reflection sent no response");
  // ServerReflectionResponse { list_services_response = 6: { service = 1: { name = 1 } } }
  UnknownFieldSet top;
  const std::string bytes = FromBuffer(response);
  top.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  std::vector<std::string> names;
  for (int i = 0; i < top.field_count(); ++i) {
    if (top.field(i).number() != 6) continue;
    UnknownFieldSet list;
    list.ParseFromString(top.field(i).length_delimited());
    for (int j = 0; j < list.field_count(); ++j) {
      UnknownFieldSet service;
      service.ParseFromString(list.field(j).length_delimited());
      for (int k = 0; k < service.field_count(); ++k) {
        if (service.field(k).number() == 1) names.push_back(service.field(k).length_delimited());
      }
    }
  }
  return names;
}

}  // namespace llorch::testing
