#include "aifs/ingest/http_client.h"

#include <algorithm>
#include <mutex>

#include "aifs/storage/curl_api.h"

namespace aifs {

namespace {

struct Sink {
  std::string* body;
  uint64_t max;
  bool too_large = false;
};

size_t WriteBody(char* buf, size_t size, size_t n, void* user) {
  auto* s = static_cast<Sink*>(user);
  const size_t len = size * n;
  if (s->body->size() + len > s->max) {
    s->too_large = true;
    return 0;  // curl stops with CURLE_WRITE_ERROR
  }
  s->body->append(buf, len);
  return len;
}

// Frees the header list on every path out of Post.
struct HeaderList {
  curl_slist* list = nullptr;
  ~HeaderList() {
    if (list) Curl().curl_slist_free_all(list);
  }
};

}  // namespace

HttpClient::~HttpClient() {
  if (curl_) Curl().curl_easy_cleanup(static_cast<CURL*>(curl_));
}

// CURLOPT_XFERINFOFUNCTION: non-zero aborts the transfer.
int Progress(void* cancel, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(cancel)->load() ? 1 : 0;
}

Result<HttpAnswer> HttpClient::Post(const std::string& url, const std::vector<std::string>& headers,
                                    const std::string& body, uint64_t timeout_ms,
                                    uint64_t max_response_bytes, const std::atomic<bool>* cancel) {
  AIFS_RETURN_IF_ERROR(LoadCurl());
  static std::once_flag once;
  std::call_once(once, [] { Curl().curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (!curl_) curl_ = Curl().curl_easy_init();
  if (!curl_) return err::Unavailable("HTTP_UNAVAILABLE", "curl_easy_init failed");
  CURL* c = static_cast<CURL*>(curl_);
  Curl().curl_easy_reset(c);  // keeps the open connection

  HeaderList list;
  for (const std::string& h : headers) {
    curl_slist* next = Curl().curl_slist_append(list.list, h.c_str());
    if (!next) return err::Unavailable("HTTP_UNAVAILABLE", "out of memory for headers");
    list.list = next;
  }
  HttpAnswer answer;
  Sink sink{&answer.body, max_response_bytes};
  char error[CURL_ERROR_SIZE] = {};
  const auto timeout = static_cast<long>(std::min<uint64_t>(timeout_ms, 1u << 30));
  Curl().curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  Curl().curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  Curl().curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  Curl().curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
  Curl().curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, std::min(timeout, 10000L));
  Curl().curl_easy_setopt(c, CURLOPT_HTTPHEADER, list.list);
  Curl().curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  Curl().curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  Curl().curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, WriteBody);
  Curl().curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  Curl().curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  Curl().curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // what curl can decode
  if (cancel) {  // called about once a second while idle, at once on traffic
    Curl().curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, Progress);
    Curl().curl_easy_setopt(c, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(cancel));
    Curl().curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  }
  const CURLcode rc = Curl().curl_easy_perform(c);
  // The handle outlives this call: it must not point at our locals.
  Curl().curl_easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr);
  Curl().curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);

  if (sink.too_large)
    return err::FailedPrecondition(
        "HTTP_TOO_LARGE",
        "the answer from " + url + " exceeds " + std::to_string(max_response_bytes) + " bytes");
  if (rc == CURLE_ABORTED_BY_CALLBACK)
    return err::Cancelled("HTTP_CANCELLED", "POST " + url + " given up: the operator is stopping");
  if (rc != CURLE_OK) {
    const std::string why = error[0] ? error : Curl().curl_easy_strerror(rc);
    if (rc == CURLE_OPERATION_TIMEDOUT)
      return Status(
          Code::kDeadlineExceeded, "HTTP_TIMEOUT",
          "no answer from " + url + " within " + std::to_string(timeout_ms) + " ms: " + why);
    return err::Unavailable("HTTP_UNAVAILABLE", "POST " + url + " failed: " + why);
  }
  Curl().curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &answer.status);
  return answer;
}

}  // namespace aifs
