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
// Revoke(id) Get(id) fails with KEY_REVOKED for good: at once in this
// process, within CacheGeneration::kDefaultRecheck (1 s) in every other
// server sharing the store. Durable on return.
// Thread-safe; unwrapped keys are cached in memory only.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "aifs/core/bytes.h"
#include "aifs/core/status.h"
#include "aifs/meta/cache_generation.h"

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

// Which ring of keys a RootKeyStore keeps: token root keys ("r1", records
// "tk/") or pre-signed URL keys ("u1", records "uk/"). Each ring has its own
// KMS wrap context, so a key of one ring never unwraps as the other's.
struct KeyRing {
  std::string_view record_prefix;
  char id_letter;
  std::string_view wrap_context;
  std::string_view noun;         // in messages: "token root key"
  std::string_view rotate_hint;  // the command that makes a new key
};
inline constexpr KeyRing kTokenRootKeys{"tk/", 'r', "aifs-token-root-key/", "token root key",
                                        "aifs token rotate-root"};
inline constexpr KeyRing kUrlKeys{"uk/", 'u', "aifs-url-key/", "URL key", "aifs url-key rotate"};

class RootKeyStore {
 public:
  RootKeyStore(MetaStore& meta, Kms& kms, const KeyRing& ring = kTokenRootKeys)
      : meta_(meta), kms_(kms), ring_(ring), generation_(meta, ring.record_prefix) {}

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

  std::string RecordKey(const std::string& id) const;
  std::string WrapContext(const std::string& id) const;
  // "r12" -> 12; 0 for anything else. Orders keys by age.
  uint64_t Serial(const std::string& id) const;
  Status UnknownKey(const std::string& id) const;

  MetaStore& meta_;
  Kms& kms_;
  const KeyRing ring_;
  std::mutex mu_;
  CacheGeneration generation_;  // bumped by every revocation
  std::unordered_map<std::string, RootKey> cache_;
};

}  // namespace aifs::auth
