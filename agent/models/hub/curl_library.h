// libcurl, loaded when the first HTTP exchange needs it rather than when the program starts.
//
// Why: Debian's libcurl brings some 25 shared libraries (GnuTLS, Kerberos, LDAP, SSH, RTMP,
// IDN, ...). Linked, the dynamic loader maps and relocates all of them at every start of
// llorch-pool, ~14 ms of a ~25 ms `--help`, though only downloads use them. Loaded here with
// dlopen("libcurl.so.4") (its stable soname) on first use, they cost nothing to other commands.
// The functions are libcurl's own, called through this table; curl_global_init has run.
#ifndef LLORCH_AGENT_MODELS_HUB_CURL_LIBRARY_H_
#define LLORCH_AGENT_MODELS_HUB_CURL_LIBRARY_H_

#include <curl/curl.h>

#include "absl/status/statusor.h"

namespace llorch {

struct CurlLibrary {
  decltype(&curl_easy_init) easy_init;
  decltype(&curl_easy_cleanup) easy_cleanup;
  decltype(&curl_easy_reset) easy_reset;
  decltype(&curl_easy_setopt) easy_setopt;
  decltype(&curl_easy_perform) easy_perform;
  decltype(&curl_easy_getinfo) easy_getinfo;
  decltype(&curl_easy_strerror) easy_strerror;
  decltype(&curl_slist_append) slist_append;
  decltype(&curl_slist_free_all) slist_free_all;
  decltype(&curl_getdate) getdate;
  decltype(&curl_url) url;
  decltype(&curl_url_set) url_set;
  decltype(&curl_url_get) url_get;
  decltype(&curl_url_cleanup) url_cleanup;
  decltype(&curl_free) free;
};

// The loaded library; loaded (and initialised) once per process, on the first call. Unavailable
// with a hint when libcurl.so.4 cannot be loaded or lacks a function (libcurl older than 7.62).
absl::StatusOr<const CurlLibrary*> Curl();

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_HUB_CURL_LIBRARY_H_
