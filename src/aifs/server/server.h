// Server: serves the callers a Gate (normally the embedded Engine) admits,
// over gRPC, and over HTTP when ServerOptions::http is set (http_plane.h).
//
// Services: aifs.v1.Aifs, Admin, Introspect, Metrics, and the standard
// grpc.health.v1.Health whose statuses follow a periodic probe of the
// backends: "" and "writes" are SERVING only while Api::CheckHealth passes;
// "readiness" while reads work (also when CheckHealth says DEGRADED: writes
// fail, as on a full disk); "liveness" while the server runs.
//
// The server defends itself (docs/security.md, "Limits"): it raises the soft
// file-descriptor limit to the hard one at start; plaintext connections come
// through its own accept loop (acceptor.h), which caps the connections held,
// closes those that never speak and keeps accepting after EMFILE; every
// connection has a stream cap, an idle timeout and keep-alive pings; calls
// and puts are capped per token and puts in total (RESOURCE_EXHAUSTED
// TOO_MANY_CALLS / TOO_MANY_PUTS); a put that stops sending is cancelled
// (DEADLINE_EXCEEDED PUT_STALLED). TLS connections come through the same
// accept loop (gRPC runs the handshake on the descriptors it is handed).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "aifs/api/caller.h"
#include "aifs/server/http_plane.h"
#include "aifs/server/rate_limiter.h"

namespace aifs::server {

struct ServerOptions {
  std::string listen = "127.0.0.1:50051";  // port 0 picks a free port
  // TLS: both set, or neither (plaintext). A client CA makes TLS mutual: a
  // client without a certificate signed by it is refused.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  std::chrono::seconds transaction_lease{600};
  std::chrono::milliseconds health_interval{2000};
  // VectorSearch per token (docs/vector-search.md); per_second 0: no limit.
  RateLimit search_limit{.per_second = 200, .burst = 400};

  // Limits (docs/security.md, "Limits"). 0 means unlimited unless noted.
  // Connections held at once; 0: derived from the file-descriptor limit
  // (half of it, at most 4096).
  size_t max_connections = 0;
  // A connection that sends nothing (no HTTP/2 preface, no TLS hello) for
  // this long is closed.
  std::chrono::milliseconds handshake_timeout{10000};
  uint32_t max_streams_per_connection = 100;
  // A connection without calls for this long is closed (GOAWAY).
  std::chrono::milliseconds connection_idle{300000};
  // Pings on quiet connections; a peer that does not answer in
  // keepalive_timeout is dropped.
  std::chrono::milliseconds keepalive_time{60000};
  std::chrono::milliseconds keepalive_timeout{20000};
  size_t max_calls_per_token = 256;  // TOO_MANY_CALLS
  size_t max_puts = 64;              // TOO_MANY_PUTS
  size_t max_puts_per_token = 16;    // TOO_MANY_PUTS
  // A put that receives nothing for this long is cancelled (PUT_STALLED).
  std::chrono::milliseconds put_stall_timeout{120000};
  // A ReadRangesStream that waits this long for its next request is ended
  // (checked every health_interval); 0: never.
  std::chrono::milliseconds read_stream_idle{60000};
  // Warnings (flood shedding, EMFILE); default: stderr.
  std::function<void(const std::string&)> log;

  // The HTTP data plane (docs/http.md) next to gRPC, served to the same
  // Gate; http.listen empty: none. Its log defaults to `log`.
  HttpOptions http;
};

// Raises this process's soft RLIMIT_NOFILE to its hard limit and returns the
// soft limit in force afterwards.
uint64_t RaiseFdLimit();

class Server {
 public:
  // UNAVAILABLE LISTEN_FAILED when the address cannot be bound;
  // INVALID_ARGUMENT BAD_TLS_FILES when certificate files are unreadable;
  // Every call is admitted by `gate` (normally the Engine), which verifies
  // its token and judges it (api/caller.h); there is no unauthenticated
  // mode. `gate` must outlive the server.
  static Result<std::unique_ptr<Server>> Start(Gate& gate, const ServerOptions& options);
  virtual ~Server() = default;

  virtual int port() const = 0;  // 0 on a unix socket
  // Where clients connect: "host:port" (the port bound) or "unix:PATH".
  virtual std::string address() const = 0;
  // The HTTP plane's port; -1 without one.
  virtual int http_port() const = 0;
  // Stops taking calls, gives in-flight calls `grace` to finish and cancels
  // the rest (an unfinished put commits nothing).
  virtual void Shutdown(std::chrono::milliseconds grace) = 0;
};

}  // namespace aifs::server
