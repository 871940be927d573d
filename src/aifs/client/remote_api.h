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
  // Whole and large reads take the segments as the store keeps them
  // (ReadAssetRequest.accept_stored, when the server has "stored-reads"): the
  // server neither decompresses nor hashes them, and this client checks a
  // whole read against its asset ID. Off: the server decodes and checks
  // every byte itself.
  bool stored_reads = true;
  // Batched reads (ReadRanges) go over Aifs.ReadRangesStream streams kept
  // open between reads (when the server has "read-streams"): a small read
  // costs one round trip instead of a call. Off: one ReadRanges call each.
  bool read_streams = true;
  std::chrono::milliseconds connect_timeout{10000};
  // The AIFS token (a macaroon) sent with every call; the server refuses
  // calls without one (UNAUTHENTICATED TOKEN_MISSING).
  std::string token;
};

// Connects and checks the server answers (UNAVAILABLE otherwise).
Result<std::unique_ptr<Api>> ConnectRemote(const RemoteOptions& options);

// For a long-lived client (a mount): the process's channels reconnect within
// a fraction of a second once a lost server is back. gRPC advances a
// connection attempt only while some thread polls it; calls that fail fast
// while the server is away poll briefly, so the attempt otherwise waits for
// gRPC's backup poller, every 5 s by default (10-15 s to recover, measured).
// Sets GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS unless the user did; call
// before the first connection of the process. Not thread-safe (setenv).
void PreferQuickReconnects();

}  // namespace aifs
