#include "agent/models/hub/curl_library.h"

#include <dlfcn.h>

#include <type_traits>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace llorch {
namespace {

constexpr char kSoname[] = "libcurl.so.4";

absl::StatusOr<const CurlLibrary*> Load() {
  // Never unloaded: its functions are used until the process exits.
  void* library = dlopen(kSoname, RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    return WithHint(absl::UnavailableError(absl::StrCat("cannot load ", kSoname, ": ", dlerror())),
                    "install libcurl (Debian: apt-get install libcurl4)");
  }
  static CurlLibrary curl;
  const char* missing = nullptr;
  auto find = [&](const char* name, auto& function) {
    function = reinterpret_cast<std::remove_reference_t<decltype(function)>>(dlsym(library, name));
    if (function == nullptr && missing == nullptr) missing = name;
  };
  decltype(&curl_global_init) global_init = nullptr;
  find("curl_global_init", global_init);
  find("curl_easy_init", curl.easy_init);
  find("curl_easy_cleanup", curl.easy_cleanup);
  find("curl_easy_reset", curl.easy_reset);
  find("curl_easy_setopt", curl.easy_setopt);
  find("curl_easy_perform", curl.easy_perform);
  find("curl_easy_getinfo", curl.easy_getinfo);
  find("curl_easy_strerror", curl.easy_strerror);
  find("curl_slist_append", curl.slist_append);
  find("curl_slist_free_all", curl.slist_free_all);
  find("curl_getdate", curl.getdate);
  find("curl_url", curl.url);
  find("curl_url_set", curl.url_set);
  find("curl_url_get", curl.url_get);
  find("curl_url_cleanup", curl.url_cleanup);
  find("curl_free", curl.free);
  if (missing != nullptr) {
    return WithHint(absl::UnavailableError(absl::StrCat(kSoname, " has no ", missing)),
                    "install libcurl 7.62 or later");
  }
  if (global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    return absl::UnavailableError("cannot initialise libcurl");
  }
  return &curl;
}

}  // namespace

absl::StatusOr<const CurlLibrary*> Curl() {
  static const absl::StatusOr<const CurlLibrary*> curl = Load();
  return curl;
}

}  // namespace llorch
