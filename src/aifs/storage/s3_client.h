// S3Client: signed HTTP requests to one S3-compatible endpoint (AWS, Ceph
// radosgw, MinIO, Swift s3api) over libcurl's built-in SigV4.
//
// Promise: Send() signs each request with AWS Signature Version 4 and
// retries it, with exponential backoff and full jitter, when no answer came
// (connection refused or reset, a stalled server, a timeout), on any 5xx
// (503 SlowDown included) and on S3's transient 4xx codes (RequestTimeout,
// and XAmzContentSHA256Mismatch/BadDigest: a body damaged in flight). Every
// request it sends is idempotent: the callers' objects are immutable.
// The secret key goes to libcurl and nowhere else: no message, URL or log
// line made here contains it.
//
// libcurl 7.88 (Debian 12) pitfalls handled here (../shared/SCALE-OUT.md):
// the caller's x-amz-content-sha256 is the signed payload hash (curl adds
// none); the query string is sorted and encoded by the caller (curl signs it
// as given); user name and password go separately (an access key may hold
// ':'). A PUT keeps curl's "Expect: 100-continue" and waits for the
// server's "100 Continue": the usual suppression, an empty "Expect:" header,
// breaks the signature (curl signs the header but does not send it);
// "Expect;" (sent empty) is refused too; sending the body without waiting
// (CURLOPT_EXPECT_100_TIMEOUT_MS 0) makes radosgw's answer wait for a
// delayed ACK, 44 ms instead of 3 ms per 64 KiB put; HTTP/1.0 (no Expect)
// is as fast but closes the connection after every request.
//
// Connections: a bounded pool of curl easy handles, each keeping its own
// connection alive between requests; a share handle caches DNS answers.
// Thread safety: Send may be called from any number of threads; at most
// `connections` requests are in flight, further callers wait for a handle.
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "aifs/core/bytes.h"
#include "aifs/core/status.h"

namespace aifs {

struct S3Credentials {
  std::string access_key;
  std::string secret_key;
  std::string session_token;  // temporary credentials only
};

// Credentials from `file` (an AWS shared credentials file) when it is not
// empty; else from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN), else from $AWS_SHARED_CREDENTIALS_FILE or
// ~/.aws/credentials. `profile` names the file's section (empty: $AWS_PROFILE
// or "default"). FAILED_PRECONDITION S3_NO_CREDENTIALS when none is found
// (the message says where it looked, never a key).
Result<S3Credentials> LoadS3Credentials(const std::string& file, const std::string& profile);

struct S3ClientOptions {
  std::string endpoint;       // "http://host:port" or "https://host", no path
  std::string region;         // e.g. "us-east-1"
  bool virtual_host = false;  // bucket.host/key instead of host/bucket/key
  int connections = 16;       // easy handles (and connections) at most
  int retries = 4;            // further attempts after the first
  long connect_timeout_ms = 5000;
  // A request that moves no byte for this long fails (and is retried).
  long stall_timeout_s = 30;
};

struct S3Request {
  std::string method;  // GET, HEAD, PUT, DELETE
  std::string bucket;
  std::string key;             // empty for a bucket request; URL-safe characters only
  std::string query;           // canonical: sorted by name, values S3UriEncode()d
  ByteSpan body;               // PUT only
  std::string payload_sha256;  // lowercase hex SHA-256 of body
  std::string range;           // "first-last" (bytes, inclusive) or empty
};

struct S3Response {
  long status = 0;              // HTTP status of the last attempt
  std::string error_code;       // S3's <Code> of an error answer, if any
  std::string error_message;    // S3's <Message>
  int64_t content_length = -1;  // of the answer, when it said
};

class S3Client {
 public:
  // LoadCurl() (storage/curl_api.h) must have succeeded.
  S3Client(S3ClientOptions options, S3Credentials credentials);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  // Sends `request` (retrying as above). A 2xx answer's body goes to `body`
  // (when not null; cleared first). Returns the final answer, whatever its
  // status; UNAVAILABLE CHUNK_STORE_UNAVAILABLE when no answer came after the
  // last attempt (the message names the endpoint and curl's error).
  Result<S3Response> Send(const S3Request& request, Bytes* body);

  const S3ClientOptions& options() const { return options_; }

 private:
  struct Handle;
  Handle* Acquire();
  void Release(Handle* h);
  Result<S3Response> SendOnce(Handle* h, const S3Request& request, Bytes* body);
  std::string UrlFor(const S3Request& request) const;

  const S3ClientOptions options_;
  const S3Credentials credentials_;
  void* share_;             // CURLSH*
  std::mutex share_mu_[4];  // one per curl_lock_data the share uses

  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<Handle*> idle_;
  int created_ = 0;  // handles alive (idle or lent)
};

// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(ByteSpan data);
// SigV4's URI encoding: everything but A-Z a-z 0-9 - . _ ~ as %XX
// (uppercase), as curl_easy_escape does it.
std::string S3UriEncode(std::string_view text);

}  // namespace aifs
