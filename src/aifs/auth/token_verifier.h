// TokenVerifier: mints AIFS capability tokens (macaroons) and checks them on
// every call.
//
// A token's identifier is "<root key id>:<token id>" (e.g. "r1:5f0c...", 32
// hex digits of token ID): the key ID picks the root key to verify with, the
// token ID names the holder (attenuated copies keep it, so a caller cannot
// shed its identity, e.g. a rate limit, by adding a caveat). The location is
// "aifs". Caveats follow auth/caveats.h.
//
// Promise: Verify() succeeds only for an unrevoked token minted under a live
// root key of this store whose every caveat holds for the access. It answers
// UNAUTHENTICATED (TOKEN_MALFORMED, UNKNOWN_KEY, KEY_REVOKED, BAD_SIGNATURE,
// TOKEN_REVOKED)
// when the token proves nothing, and PERMISSION_DENIED with the first failing
// caveat's reason (TOKEN_EXPIRED, WRONG_NAMESPACE, OPERATION_NOT_ALLOWED, ...)
// when it is genuine but does not cover the call.
//
// Thread safety: Mint, Verify and Authenticate may be called from any
// number of threads at once.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "aifs/auth/caveats.h"
#include "aifs/auth/root_keys.h"
#include "aifs/auth/token_revocations.h"

namespace aifs::auth {

inline constexpr std::string_view kTokenLocation = "aifs";

struct TokenSpec {
  std::vector<std::string> namespaces;  // empty: every namespace
  uint32_t ops = kAllOps;               // kAllOps: no ops caveat
  std::optional<int64_t> expires_unix_s;
  std::vector<std::string> branches;  // empty: no branch caveat
  std::vector<std::string> assets;    // hex asset IDs; empty: no asset caveat
};

// The caveats a spec stands for, in the order they are added.
std::vector<std::string> SpecCaveats(const TokenSpec& spec);

struct TokenId {
  std::string key_id;
  std::string token_id;
};
// UNAUTHENTICATED TOKEN_MALFORMED when `identifier` is not "<key>:<token>".
Result<TokenId> ParseTokenIdentifier(std::string_view identifier);

// Adds caveats to a token, offline: no key needed, rights only narrow.
Result<std::string> AttenuateToken(std::string_view token, const std::vector<std::string>& caveats);

struct VerifiedToken {
  TokenId id;
  std::vector<std::string> caveats;
};

class TokenVerifier {
 public:
  TokenVerifier(RootKeyStore& keys, TokenRevocations& revocations)
      : keys_(keys), revocations_(revocations) {}

  // A fresh token (new token ID) under the current root key.
  Result<std::string> Mint(const TokenSpec& spec);
  Result<VerifiedToken> Verify(std::string_view token, const Access& access) const;
  // Verify() for any use now: fails for everything that makes a token
  // worthless whatever it is used for (signature, key, revocation, expiry,
  // caveats AIFS cannot read); the caveats that depend on the call are left
  // to the caller (CheckCaveats).
  Result<VerifiedToken> Authenticate(std::string_view token) const;

  RootKeyStore& keys() { return keys_; }
  TokenRevocations& revocations() { return revocations_; }

 private:
  struct Parsed;  // a token's macaroon and identifier
  // The parse of a token's text never changes: tokens seen before are not
  // parsed again (a parse was ~60% of a verification, done on every call).
  // Signature, key, revocation and caveats are still checked on every call.
  // TOKEN_MALFORMED as Macaroon::Parse and ParseTokenIdentifier.
  Result<std::shared_ptr<const Parsed>> Parse(std::string_view token) const;

  RootKeyStore& keys_;
  TokenRevocations& revocations_;
  // Bounded: emptied when it holds kMaxParsed tokens (a flood of junk tokens
  // costs the genuine ones a parse, nothing more).
  static constexpr size_t kMaxParsed = 1024;
  mutable std::mutex parsed_mu_;
  mutable std::unordered_map<std::string, std::shared_ptr<const Parsed>> parsed_;
};

}  // namespace aifs::auth
