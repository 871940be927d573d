// RootKeyStore: the secrets that sign AIFS tokens (macaroon root keys).
//
// Each key has an ID ("r1", "r2", ...) that tokens carry in their identifier,
// so the server knows which key to verify with. Keys live in the MetaStore
// (records "tk/<id>"), each wrapped by the store's KMS with the key ID as
// authenticated context: neither the data directory nor a backup of it holds
// a root key in plaintext, and a wrapped key copied onto another ID does not
// unwrap.
//
// Promise: Current() is the newest unrevoked key; Rotate() makes a new one
// current (older keys still verify their tokens until revoked); after
// Revoke(id) Get(id) fails with KEY_REVOKED for good. Durable on return.
// Thread-safe; unwrapped keys are cached in memory only.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "aifs/core/bytes.h"
#include "aifs/core/status.h"

namespace aifs {
class MetaStore;
class Kms;
}  // namespace aifs

namespace aifs::auth {

struct RootKey {
  std::string id;
  Bytes secret;  // 32 bytes
};

struct RootKeyInfo {
  std::string id;
  int64_t created_unix_ns = 0;
  bool revoked = false;
  bool current = false;
  std::string kms_key_id;  // the KMS key that wraps it
};

class RootKeyStore {
 public:
  RootKeyStore(MetaStore& meta, Kms& kms) : meta_(meta), kms_(kms) {}

  // FAILED_PRECONDITION NO_ROOT_KEY when every key is revoked (or none was made).
  Result<RootKey> Current();
  // UNAUTHENTICATED UNKNOWN_KEY / KEY_REVOKED.
  Result<RootKey> Get(const std::string& id);
  // Makes and stores a new current key; returns it.
  Result<RootKey> Rotate();
  // NOT_FOUND UNKNOWN_KEY for an ID never issued; FAILED_PRECONDITION
  // LAST_ROOT_KEY for the only live key (rotate first).
  Status Revoke(const std::string& id);
  Result<std::vector<RootKeyInfo>> List();
  // Re-wraps every key (revoked ones too) that another KMS key than `target`
  // wraps, each in its own transaction (`aifs key rewrap`, before an old KMS
  // key version is retired). Returns how many moved; a rerun moves nothing.
  Result<uint64_t> RewrapAll(const std::string& target);

 private:
  Result<std::vector<RootKeyInfo>> ListLocked();

  MetaStore& meta_;
  Kms& kms_;
  std::mutex mu_;
  std::unordered_map<std::string, RootKey> cache_;
};

}  // namespace aifs::auth
