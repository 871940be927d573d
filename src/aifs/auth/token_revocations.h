// TokenRevocations: the token IDs an admin has revoked.
//
// Revoking a token ID refuses that token and every attenuated copy of it
// (copies keep the ID), while every other token of the same root key keeps
// working: the narrow tool for a leaked token, where revoking the root key
// is the broad one. Records "tr/<token id>" in the MetaStore.
//
// Promise: once Revoke(id) returns, IsRevoked(id) is true for good, here and
// in every process that opens the store later. Durable on return.
// Thread-safe; the set is read from the store once and then kept in memory
// (it changes only through Revoke).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "aifs/core/status.h"

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
  explicit TokenRevocations(MetaStore& meta) : meta_(meta) {}

  // INVALID_ARGUMENT BAD_TOKEN_ID unless `token_id` is 32 lowercase hex
  // digits. Revoking twice is not an error.
  Status Revoke(const std::string& token_id);
  Result<bool> IsRevoked(const std::string& token_id);
  Result<std::vector<RevokedToken>> List();

 private:
  Status LoadLocked();

  MetaStore& meta_;
  std::mutex mu_;
  std::optional<std::unordered_set<std::string>> revoked_;  // loaded on first use
};

}  // namespace aifs::auth
