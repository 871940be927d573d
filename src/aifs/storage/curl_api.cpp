#include "aifs/storage/curl_api.h"

namespace aifs {

namespace {

Result<const CurlApi*> Bind() {
  return LoadCApi<CurlApi>("libcurl.so.4", "libcurl4",
                           [](void* handle, const char* soname, CurlApi& api) -> Status {
                             AIFS_CURL_FUNCTIONS(AIFS_BIND_C_FUNCTION)
                             return Status::Ok();
                           });
}

}  // namespace

Status LoadCurl() { return Bind().status(); }

const CurlApi& Curl() { return **Bind(); }

}  // namespace aifs
