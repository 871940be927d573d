// The libcurl C calls the s3:// ChunkStore makes, bound when the first S3
// store opens (core/dynamic_library.h): processes that use no S3 store never
// load libcurl.
// Thread safety: LoadCurl and Curl may be called from any thread.
#pragma once

#include <curl/curl.h>

#include "aifs/core/dynamic_library.h"

namespace aifs {

#define AIFS_CURL_FUNCTIONS(X) \
  X(curl_easy_cleanup)         \
  X(curl_easy_escape)          \
  X(curl_easy_getinfo)         \
  X(curl_easy_init)            \
  X(curl_easy_perform)         \
  X(curl_easy_reset)           \
  X(curl_easy_setopt)          \
  X(curl_easy_strerror)        \
  X(curl_free)                 \
  X(curl_global_init)          \
  X(curl_share_cleanup)        \
  X(curl_share_init)           \
  X(curl_share_setopt)         \
  X(curl_slist_append)         \
  X(curl_slist_free_all)

struct CurlApi {
  AIFS_CURL_FUNCTIONS(AIFS_DECLARE_C_FUNCTION)
};

// Binds libcurl once per process. FAILED_PRECONDITION LIBRARY_MISSING or
// LIBRARY_SYMBOL_MISSING when it cannot.
Status LoadCurl();
// The bound calls; only after LoadCurl succeeded.
const CurlApi& Curl();

}  // namespace aifs
