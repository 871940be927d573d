// HttpPlane: AIFS over plain HTTP/1.1 (and HTTPS), next to the gRPC server in
// the same process, for tools that speak no gRPC: curl, wget, browsers, data
// loaders, DuckDB, Prometheus (docs/http.md).
//
//   GET|HEAD /v1/assets/NS/ID?[as_of=REF&]name=..&exp=..&kid=..&sig=..
//            a pre-signed URL (Api::SignUrl); no token needed
//   GET|HEAD /v1/assets/NS/ID[?as_of=REF]   with Authorization: Bearer TOKEN
//   GET|HEAD /v1/paths/NS/PATH[?as_of=REF]  with Authorization: Bearer TOKEN
//   GET      /metrics   Prometheus text; Authorization: Bearer TOKEN allowed
//                       Operation::kReadMetrics
//   GET      /healthz   200 while the process serves
//   GET      /readyz    200 while reads work (Gate::CheckHealth OK or
//                       DEGRADED), else 503
//
// Asset responses: Range (bytes=a-b, a-, -n: 206 + Content-Range; 416 when
// unsatisfiable; several ranges are answered with the whole asset), strong
// ETag = "asset ID", If-None-Match (304), If-Range, Content-Type from the
// asset's metadata or kind, Content-Disposition from the URL's name or the
// path, Accept-Ranges: bytes, keep-alive. Bodies stream: memory per
// connection is bounded whatever the asset's size.
//
// It decides nothing: every credential goes to the Gate, every read through
// the CallerApi it returns. Errors are a small JSON body
// {"code":"PERMISSION_DENIED","reason":"URL_EXPIRED","message":"..."} with
// the same stable reasons as gRPC and the HTTP status of the code (401 403
// 404 400 416 429 503 500 ...).
//
// Thread-safe; Start() returns once the listener is bound.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "aifs/api/caller.h"

namespace aifs::server {

struct HttpOptions {
  std::string listen;  // "host:port"; port 0 picks a free one
  // TLS: both set, or neither (plaintext); the same PEM files as gRPC.
  std::string tls_cert_file;
  std::string tls_key_file;
  size_t max_connections = 1024;  // more are refused at accept
  size_t threads = 4;             // worker threads (each an event loop)
  // A connection idle (nothing sent or received) this long is closed; one
  // whose request head is not complete this long after it connected is
  // closed too (slowloris).
  std::chrono::milliseconds idle_timeout{30000};
  std::chrono::milliseconds header_timeout{10000};
  // Warnings (bad requests are not warnings); default: stderr.
  std::function<void(const std::string&)> log;
};

// What the plane asks of the process it runs in.
struct HttpHost {
  Gate* gate = nullptr;
  // Prometheus text for /metrics, rendered with the admitted caller's Api.
  std::function<std::string(CallerApi&)> metrics;
  // Counts HTTP requests in the metrics: status code and seconds taken.
  std::function<void(int status, double seconds)> record;
};

class HttpPlane {
 public:
  // UNAVAILABLE LISTEN_FAILED; INVALID_ARGUMENT BAD_TLS_FILES.
  static Result<std::unique_ptr<HttpPlane>> Start(const HttpHost& host, const HttpOptions& options);
  virtual ~HttpPlane() = default;
  virtual int port() const = 0;
  // Stops accepting, ends every connection; idempotent.
  virtual void Shutdown() = 0;
};

}  // namespace aifs::server
