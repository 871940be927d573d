// TokenRevocations: the token IDs an admin has revoked.
//
// Revoking a token ID refuses that token and every attenuated copy of it
// (copies keep the ID), while every other token of the same root key keeps
// working: the narrow tool for a leaked token, where revoking the root key
// is the broad one. Records "tr/<token id>" in the MetaStore.
//
// Promise: once Revoke(id) returns, IsRevoked(id) is true for good: at once
// in this process, within CacheGeneration::kDefaultRecheck (1 s) in every
// other server sharing the store. Durable on return.
// Thread-safe; the set is kept in memory and read again when another process
// revoked a token (CacheGeneration).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "aifs/core/status.h"
#include "aifs/meta/cache_generation.h"

namespace aifs {
class MetaStore;
}  // namespace aifs

namespace aifs::auth {

struct RevokedToken {
  std::string token_id;
  int64_t revoked_unix_ns = 0;
};

class TokenRevocations {
 public:
  explicit TokenRevocations(MetaStore& meta) : meta_(meta), generation_(meta, "tr/") {}

  // INVALID_ARGUMENT BAD_TOKEN_ID unless `token_id` is 32 lowercase hex
  // digits. Revoking twice is not an error.
  Status Revoke(const std::string& token_id);
  Result<bool> IsRevoked(const std::string& token_id);
  Result<std::vector<RevokedToken>> List();

 private:
  Status LoadLocked();

  MetaStore& meta_;
  std::mutex mu_;
  CacheGeneration generation_;                              // bumped by every revocation
  std::optional<std::unordered_set<std::string>> revoked_;  // loaded on first use
};

}  // namespace aifs::auth
