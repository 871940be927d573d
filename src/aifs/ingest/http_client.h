// HttpClient: plain HTTP(S) POSTs over libcurl for the http-embed kind (bound
// at first use, storage/curl_api.h). Keeps its connection alive between
// calls. Follows no redirects and speaks only http and https.
//
// Post returns any answer the server gave, whatever its status; an error
// only when there was no complete answer:
//   DEADLINE_EXCEEDED HTTP_TIMEOUT       no answer within timeout_ms
//   UNAVAILABLE       HTTP_UNAVAILABLE   cannot connect, connection dropped,
//                                        TLS failure, ...
//   FAILED_PRECONDITION HTTP_TOO_LARGE   the body exceeds max_response_bytes
//   FAILED_PRECONDITION LIBRARY_MISSING  libcurl cannot be loaded
// Messages never include header values (they may hold secrets).
//
// Thread safety: one thread at a time.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "aifs/core/status.h"

namespace aifs {

struct HttpAnswer {
  long status = 0;
  std::string body;  // the whole body (bounded by max_response_bytes)
};

class HttpClient {
 public:
  HttpClient() = default;
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // `headers` are whole lines ("Content-Type: application/json"). Once
  // `*cancel` is set, the request is aborted: CANCELLED HTTP_CANCELLED.
  Result<HttpAnswer> Post(const std::string& url, const std::vector<std::string>& headers,
                          const std::string& body, uint64_t timeout_ms, uint64_t max_response_bytes,
                          const std::atomic<bool>* cancel = nullptr);

 private:
  void* curl_ = nullptr;  // CURL*
};

}  // namespace aifs
