// Server: serves an aifs::Api (normally the embedded Engine) over gRPC.
//
// Services: aifs.v1.Aifs, Admin, Introspect, Metrics, and the standard
// grpc.health.v1.Health whose statuses follow a periodic probe of the
// backends: "" and "writes" are SERVING only while Api::CheckHealth passes;
// "readiness" while reads work (also when CheckHealth says DEGRADED: writes
// fail, as on a full disk); "liveness" while the server runs.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "aifs/api/api.h"
#include "aifs/auth/token_verifier.h"
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
  // Verifies the token every call must carry (docs/security.md); required:
  // there is no unauthenticated mode. Must outlive the server.
  auth::TokenVerifier* tokens = nullptr;
  // VectorSearch per token (docs/vector-search.md); per_second 0: no limit.
  RateLimit search_limit{.per_second = 200, .burst = 400};
};

class Server {
 public:
  // UNAVAILABLE LISTEN_FAILED when the address cannot be bound;
  // INVALID_ARGUMENT BAD_TLS_FILES when certificate files are unreadable;
  // FAILED_PRECONDITION NO_TOKEN_VERIFIER without options.tokens.
  static Result<std::unique_ptr<Server>> Start(Api& api, const ServerOptions& options);
  virtual ~Server() = default;

  virtual int port() const = 0;
  // Stops taking calls, gives in-flight calls `grace` to finish and cancels
  // the rest (an unfinished put commits nothing).
  virtual void Shutdown(std::chrono::milliseconds grace) = 0;
};

}  // namespace aifs::server
