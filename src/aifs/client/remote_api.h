// RemoteApi: aifs::Api over gRPC, so every face written against the Api (the
// CLI above all) works the same against a server as against a data
// directory. Calls map 1:1 onto aifs.v1 RPCs; errors come back with the
// server's code and stable reason.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "aifs/api/api.h"

namespace aifs {

struct RemoteOptions {
  std::string target;  // host:port
  // TLS when a CA is given (the server's certificate must chain to it); a
  // client certificate and key as well for mutual TLS.
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_server_name;  // overrides the name checked in the certificate
  // zstd data frames (when the server agrees): they pay on real networks but
  // cost more CPU than they save on loopback, so kAuto leaves them off there.
  enum class Zstd { kAuto, kOn, kOff };
  Zstd zstd = Zstd::kAuto;
  std::chrono::milliseconds connect_timeout{10000};
  // The AIFS token (a macaroon) sent with every call; the server refuses
  // calls without one (UNAUTHENTICATED TOKEN_MISSING).
  std::string token;
};

// Connects and checks the server answers (UNAVAILABLE otherwise).
Result<std::unique_ptr<Api>> ConnectRemote(const RemoteOptions& options);

}  // namespace aifs
