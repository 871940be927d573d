#include "aifs/storage/s3_client.h"

#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "aifs/core/hex.h"
#include "aifs/storage/curl_api.h"
#include "aifs/storage/s3_xml.h"

namespace aifs {

namespace {

std::string Trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return "";
  return std::string(s.substr(b, s.find_last_not_of(" \t\r") - b + 1));
}

Status NoCredentials(const std::string& where) {
  return err::FailedPrecondition(
      "S3_NO_CREDENTIALS",
      "no S3 credentials: " + where +
          " (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give credentials=FILE "
          "in the s3:// URL, an AWS shared credentials file)");
}

// The [profile] (or [profile NAME]) section of an AWS credentials file.
Result<S3Credentials> FromFile(const std::string& path, const std::string& profile) {
  std::ifstream in(path);
  if (!in) return NoCredentials("cannot read the credentials file " + path);
  S3Credentials c;
  bool in_section = false;
  for (std::string line; std::getline(in, line);) {
    const std::string t = Trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t.front() == '[' && t.back() == ']') {
      const std::string name = Trim(t.substr(1, t.size() - 2));
      in_section = name == profile || name == "profile " + profile;
      continue;
    }
    const size_t eq = t.find('=');
    if (!in_section || eq == std::string::npos) continue;
    const std::string key = Trim(t.substr(0, eq)), value = Trim(t.substr(eq + 1));
    if (key == "aws_access_key_id")
      c.access_key = value;
    else if (key == "aws_secret_access_key")
      c.secret_key = value;
    else if (key == "aws_session_token")
      c.session_token = value;
  }
  if (c.access_key.empty() || c.secret_key.empty())
    return NoCredentials("the credentials file " + path + " has no [" + profile +
                         "] with aws_access_key_id and aws_secret_access_key");
  return c;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { Curl().curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// The share handle's lock callbacks: one mutex per kind of shared data.
void ShareLock(CURL*, curl_lock_data data, curl_lock_access, void* user) {
  static_cast<std::mutex*>(user)[data % 4].lock();
}
void ShareUnlock(CURL*, curl_lock_data data, void* user) {
  static_cast<std::mutex*>(user)[data % 4].unlock();
}

// The request body, read by curl (and rewound when it sends it again).
struct Source {
  ByteSpan data;
  size_t pos = 0;
};
size_t ReadBody(char* buf, size_t size, size_t n, void* user) {
  auto* s = static_cast<Source*>(user);
  const size_t len = std::min(size * n, s->data.size() - s->pos);
  std::memcpy(buf, s->data.data() + s->pos, len);
  s->pos += len;
  return len;
}
int SeekBody(void* user, curl_off_t offset, int origin) {
  auto* s = static_cast<Source*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<size_t>(offset) > s->data.size())
    return CURL_SEEKFUNC_FAIL;
  s->pos = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

// The answer's body: a 2xx body to the caller's buffer, an error's (S3's XML)
// to `error`, kept short.
struct Sink {
  CURL* curl;
  Bytes* ok_body;
  std::string error;
  int decided = 0;  // 0: not yet, 1: success, -1: error
};
size_t WriteBody(char* buf, size_t size, size_t n, void* user) {
  auto* s = static_cast<Sink*>(user);
  if (s->decided == 0) {
    long status = 0;
    Curl().curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
    s->decided = status >= 200 && status < 300 ? 1 : -1;
    curl_off_t length = -1;
    Curl().curl_easy_getinfo(s->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    if (s->decided > 0 && s->ok_body && length > 0 && length < (curl_off_t{1} << 32))
      s->ok_body->reserve(static_cast<size_t>(length));
  }
  const size_t len = size * n;
  if (s->decided > 0 && s->ok_body) {
    s->ok_body->insert(s->ok_body->end(), buf, buf + len);
  } else if (s->decided < 0 && s->error.size() < 64 * 1024) {
    s->error.append(buf, len);
  }
  return len;
}

// Transport failures worth another attempt: the server may answer next time.
bool RetryableCurl(CURLcode rc) {
  switch (rc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_ABORTED_BY_CALLBACK:
      return false;
    default:
      return true;
  }
}

bool RetryableAnswer(const S3Response& r) {
  return r.status >= 500 || r.status == 429 || r.error_code == "RequestTimeout" ||
         r.error_code == "SlowDown" || r.error_code == "XAmzContentSHA256Mismatch" ||
         r.error_code == "BadDigest";
}

// Exponential backoff with jitter: half of 100 ms * 2^(attempt-1) (at most
// 5 s), plus a random part as large, so clients that failed together spread out.
void Backoff(int attempt) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  const long cap = std::min(5000L, 100L << std::min(attempt - 1, 10));
  const long ms = cap / 2 + static_cast<long>(rng() % static_cast<uint64_t>(cap / 2 + 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

}  // namespace

Result<S3Credentials> LoadS3Credentials(const std::string& file, const std::string& profile) {
  std::string prof = profile.empty() ? Env("AWS_PROFILE") : profile;
  if (prof.empty()) prof = "default";
  if (!file.empty()) return FromFile(file, prof);
  if (!Env("AWS_ACCESS_KEY_ID").empty() || !Env("AWS_SECRET_ACCESS_KEY").empty()) {
    S3Credentials c{Env("AWS_ACCESS_KEY_ID"), Env("AWS_SECRET_ACCESS_KEY"),
                    Env("AWS_SESSION_TOKEN")};
    if (c.access_key.empty() || c.secret_key.empty())
      return NoCredentials("only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is set");
    return c;
  }
  if (!Env("AWS_SHARED_CREDENTIALS_FILE").empty())
    return FromFile(Env("AWS_SHARED_CREDENTIALS_FILE"), prof);
  const std::string home = Env("HOME");
  if (!home.empty() && std::ifstream(home + "/.aws/credentials"))
    return FromFile(home + "/.aws/credentials", prof);
  return NoCredentials("none in the environment, no AWS_SHARED_CREDENTIALS_FILE, no " +
                       (home.empty() ? std::string("~") : home) + "/.aws/credentials");
}

std::string Sha256Hex(ByteSpan data) {
  uint8_t digest[32];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return HexEncode(ByteSpan(digest, len));
}

std::string S3UriEncode(std::string_view text) {
  InitCurlOnce();
  char* e = Curl().curl_easy_escape(nullptr, text.data(), static_cast<int>(text.size()));
  std::string out = e ? e : "";
  Curl().curl_free(e);
  return out;
}

struct S3Client::Handle {
  CURL* curl = nullptr;
  char error[CURL_ERROR_SIZE] = {};
};

S3Client::S3Client(S3ClientOptions options, S3Credentials credentials)
    : options_(std::move(options)), credentials_(std::move(credentials)) {
  InitCurlOnce();
  CURLSH* share = Curl().curl_share_init();
  Curl().curl_share_setopt(share, CURLSHOPT_LOCKFUNC, ShareLock);
  Curl().curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, ShareUnlock);
  Curl().curl_share_setopt(share, CURLSHOPT_USERDATA, share_mu_);
  // DNS only: libcurl does not support sharing connections between threads
  // (each handle keeps its own, which the pool bounds).
  Curl().curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  share_ = share;
}

S3Client::~S3Client() {
  for (Handle* h : idle_) {
    Curl().curl_easy_cleanup(h->curl);
    delete h;
  }
  Curl().curl_share_cleanup(static_cast<CURLSH*>(share_));
}

S3Client::Handle* S3Client::Acquire() {
  std::unique_lock lock(mu_);
  freed_.wait(lock, [&] { return !idle_.empty() || created_ < options_.connections; });
  if (!idle_.empty()) {
    Handle* h = idle_.back();
    idle_.pop_back();
    return h;
  }
  ++created_;
  auto* h = new Handle;
  h->curl = Curl().curl_easy_init();
  Curl().curl_easy_setopt(h->curl, CURLOPT_SHARE, share_);  // curl_easy_reset keeps it
  return h;
}

void S3Client::Release(Handle* h) {
  {
    std::lock_guard lock(mu_);
    idle_.push_back(h);
  }
  freed_.notify_one();
}

std::string S3Client::UrlFor(const S3Request& r) const {
  std::string url;
  if (options_.virtual_host) {
    const size_t host = options_.endpoint.find("://") + 3;
    url = options_.endpoint.substr(0, host) + r.bucket + "." + options_.endpoint.substr(host) +
          "/" + r.key;
  } else {
    url = options_.endpoint + "/" + r.bucket + (r.key.empty() ? "" : "/" + r.key);
  }
  return r.query.empty() ? url : url + "?" + r.query;
}

Result<S3Response> S3Client::SendOnce(Handle* h, const S3Request& r, Bytes* body) {
  CURL* c = h->curl;
  Curl().curl_easy_reset(c);  // options only: the connection and its cache stay
  h->error[0] = '\0';
  const std::string url = UrlFor(r);
  const std::string sigv4 = "aws:amz:" + options_.region + ":s3";
  Curl().curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  Curl().curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->error);
  Curl().curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  Curl().curl_easy_setopt(c, CURLOPT_MAXCONNECTS, 1L);
  Curl().curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  Curl().curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, options_.connect_timeout_ms);
  Curl().curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  Curl().curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, std::max(1L, options_.stall_timeout_s));
  Curl().curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4.c_str());
  Curl().curl_easy_setopt(c, CURLOPT_USERNAME, credentials_.access_key.c_str());
  Curl().curl_easy_setopt(c, CURLOPT_PASSWORD, credentials_.secret_key.c_str());

  curl_slist* headers = nullptr;
  const std::string sha = "x-amz-content-sha256: " + r.payload_sha256;
  headers = Curl().curl_slist_append(headers, sha.c_str());
  const std::string token = "x-amz-security-token: " + credentials_.session_token;
  if (!credentials_.session_token.empty())
    headers = Curl().curl_slist_append(headers, token.c_str());
  Curl().curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);

  Source source{r.body};
  if (r.method == "PUT") {
    Curl().curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    Curl().curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
    Curl().curl_easy_setopt(c, CURLOPT_READFUNCTION, ReadBody);
    Curl().curl_easy_setopt(c, CURLOPT_READDATA, &source);
    Curl().curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, SeekBody);
    Curl().curl_easy_setopt(c, CURLOPT_SEEKDATA, &source);
    // curl sends "Expect: 100-continue" and waits for the server's "100
    // Continue" (at most 1 s) before the body; see the header for why.
  } else if (r.method == "HEAD") {
    Curl().curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (r.method != "GET") {
    Curl().curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r.method.c_str());
  }
  if (!r.range.empty()) Curl().curl_easy_setopt(c, CURLOPT_RANGE, r.range.c_str());

  if (body) body->clear();
  Sink sink{c, body, {}};
  Curl().curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, WriteBody);
  Curl().curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);

  const CURLcode rc = Curl().curl_easy_perform(c);
  Curl().curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    const std::string why = h->error[0] ? h->error : Curl().curl_easy_strerror(rc);
    Status st = err::Unavailable("CHUNK_STORE_UNAVAILABLE",
                                 "S3 endpoint " + options_.endpoint + " (bucket " + r.bucket +
                                     "): " + r.method + " failed: " + why);
    if (!RetryableCurl(rc)) st = err::InvalidArgument("BAD_CHUNK_STORE_URL", st.message());
    return st;
  }
  S3Response out;
  Curl().curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out.status);
  curl_off_t length = -1;
  Curl().curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
  out.content_length = length;
  if (sink.decided < 0 || out.status < 200 || out.status >= 300) {
    out.error_code = XmlText(sink.error, "Code").value_or("");
    out.error_message = XmlText(sink.error, "Message").value_or("");
    if (body) body->clear();
  }
  return out;
}

Result<S3Response> S3Client::Send(const S3Request& request, Bytes* body) {
  Status last;
  for (int attempt = 0; attempt <= options_.retries; ++attempt) {
    if (attempt > 0) Backoff(attempt);
    Handle* h = Acquire();
    Result<S3Response> r = SendOnce(h, request, body);
    Release(h);
    if (!r.ok()) {
      if (r.status().code() != Code::kUnavailable) return r;
      last = r.status();
      continue;
    }
    if (attempt < options_.retries && RetryableAnswer(*r)) continue;
    return r;
  }
  return last.WithContext("after " + std::to_string(options_.retries + 1) + " attempts");
}

}  // namespace aifs
