#include "aifs/storage/curl_api.h"

namespace aifs {

AIFS_DEFINE_C_API(Curl, CurlApi, "libcurl.so.4", "libcurl4", AIFS_CURL_FUNCTIONS)

}  // namespace aifs
