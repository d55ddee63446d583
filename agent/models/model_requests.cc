#include "agent/models/model_requests.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "agent/models/catalog.h"
#include "agent/rpc/request_rules.h"

namespace llorch {
namespace v1 = pool::v1;
namespace {

constexpr char kCatalogHint[] = "`llorch-pool models catalog` lists the model ids";

absl::Status CheckModelIds(const google::protobuf::RepeatedPtrField<std::string>& ids) {
  for (int i = 0; i < ids.size(); ++i) {
    if (absl::Status status = CheckModelId(FieldAt("ids", i), ids[i]); !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckModelId(const std::string& field, const std::string& id) {
  if (absl::Status present = CheckPresent(field, id, kCatalogHint); !present.ok()) return present;
  if (IsModelId(id)) return absl::OkStatus();
  return InvalidField(field,
                      absl::StrCat(ShowValue(id),
                                   " is not a model id: ids are lower-case letters, "
                                   "digits and '-', at most ",
                                   kMaxModelIdLength, " of them"),
                      kCatalogHint);
}

absl::Status Validate(const v1::ListCatalogRequest& request) {
  if (absl::Status rules = CheckRequestRules(request); !rules.ok()) return rules;
  return CheckModelIds(request.ids());
}

absl::Status Validate(const v1::GetModelInfoRequest& request) {
  if (absl::Status rules = CheckRequestRules(request); !rules.ok()) return rules;
  return CheckModelId("id", request.id());
}

absl::Status Validate(const v1::DownloadModelRequest& request) {
  if (absl::Status rules = CheckRequestRules(request); !rules.ok()) return rules;
  if (request.ids().empty()) return InvalidField("ids", "empty: name the models", kCatalogHint);
  return CheckModelIds(request.ids());
}

absl::Status Validate(const v1::VerifyModelRequest& request) {
  if (absl::Status rules = CheckRequestRules(request); !rules.ok()) return rules;
  if (absl::Status which = CheckListOrAll("ids", request.ids_size(), "all", request.all(),
                                          "name the models to verify, or set all");
      !which.ok()) {
    return which;
  }
  return CheckModelIds(request.ids());
}

absl::Status Validate(const v1::DeleteModelRequest& request) {
  if (absl::Status rules = CheckRequestRules(request); !rules.ok()) return rules;
  return CheckModelId("id", request.id());
}

absl::Status Validate(const v1::LockModelsRequest& request) {
  if (absl::Status rules = CheckRequestRules(request); !rules.ok()) return rules;
  if (request.update() && request.unpin()) {
    return InvalidField("unpin", "not together with update: either pin again or remove pins",
                        "`llorch-pool models lock --update ID` or `--unpin ID`");
  }
  if (request.unpin() && request.ids().empty()) {
    return InvalidField("ids", "empty: name the models to unpin", kCatalogHint);
  }
  return CheckModelIds(request.ids());
}

}  // namespace llorch
