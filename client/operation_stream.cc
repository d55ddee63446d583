#include "client/operation_stream.h"

#include "absl/strings/str_cat.h"
#include "client/render/json.h"
#include "client/render/units.h"

namespace llorch {
namespace {

namespace v1 = pool::v1;

std::string DescribeProgress(const v1::Progress& progress) {
  std::string amount;
  if (progress.unit() == v1::PROGRESS_UNIT_BYTES) {
    amount = FormatBytes(progress.done());
    if (progress.total() > 0) amount += " / " + FormatBytes(progress.total());
  } else {
    amount = absl::StrCat(progress.done());
    if (progress.total() > 0) absl::StrAppend(&amount, " / ", progress.total());
  }
  return absl::StrCat(progress.phase(), " ", progress.current_item(),
                      progress.current_item().empty() ? "" : " ", amount, "\n");
}

}  // namespace

int RunOperation(Session& session, const OperationStarter& start) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = session.Channel();
  if (!channel.ok()) return session.Fail(channel.status());
  grpc::ClientContext context;  // no deadline: operations take as long as they take
  std::unique_ptr<grpc::ClientReaderInterface<v1::OperationEvent>> reader =
      start(&context, *channel);
  v1::OperationEvent event;
  bool failed = false;
  while (reader->Read(&event)) {
    if (session.json()) {
      session.Print(ToJsonLine(event) + "\n");
      failed = event.has_error();
      continue;
    }
    if (event.sequence() == 1) session.Verbose(1, "operation " + event.operation_id());
    switch (event.payload_case()) {
      case v1::OperationEvent::kProgress:
        if (!session.quiet()) session.Print(DescribeProgress(event.progress()));
        break;
      case v1::OperationEvent::kLog:
        if (!session.quiet()) session.Print(event.log().text() + "\n");
        break;
      case v1::OperationEvent::kResult:
        session.Print(ToJson(event.result()) + "\n");
        break;
      case v1::OperationEvent::kError:
        failed = true;
        session.Fail(grpc::Status(static_cast<grpc::StatusCode>(event.error().code()),
                                  event.error().message(), event.error().SerializeAsString()));
        break;
      default:
        break;
    }
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) return session.Fail(status);
  return failed ? kExitFailed : kExitOk;
}

}  // namespace llorch
