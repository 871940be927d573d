// Caveats: the predicates AIFS writes into (and accepts from) macaroons, and
// how one predicate is judged against one request.
//
// Grammar (one caveat per predicate, single spaces, no control characters):
//   ns = NAME[,NAME...]        only these namespaces
//   ops = OP[,OP...]           only these operations (see Op)
//   expires < YYYY-MM-DDTHH:MM:SSZ   only before this instant (UTC)
//   branch = NAME[,NAME...]    only calls that name one of these branches
//   asset = HEX[,HEX...]       only calls that name assets, all of them among
//                              these (IDs)
//   dp_epsilon <= DECIMAL      aggregate queries under a privacy policy spend
//                              at most this much epsilon in all, through this
//                              token and every token attenuated from it
//                              (privacy/epsilon.h syntax; docs/privacy.md).
//                              The engine's ledger enforces it, not CheckCaveat.
// Every caveat of a token must hold (logical AND), so adding a caveat can only
// narrow what a token may do; repeating a key intersects. Anything else, even
// a near miss ("ns=a", "ns = a b"), is UNKNOWN_CAVEAT and fails closed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aifs/core/status.h"

namespace aifs::auth {

// Operations, as bits of a mask.
enum Op : uint32_t {
  kOpNone = 0,  // the call needs only a valid token (Introspect.GetInfo)
  kOpPut = 1u << 0,
  kOpGet = 1u << 1,
  kOpList = 1u << 2,
  kOpSearch = 1u << 3,
  kOpSnapshot = 1u << 4,
  kOpBranch = 1u << 5,
  kOpTag = 1u << 6,
  kOpDelete = 1u << 7,
  kOpSubscribe = 1u << 8,
  kOpAdmin = 1u << 9,
  kOpQuery = 1u << 10,  // aggregate queries (answers about many assets, not their bytes)
};
inline constexpr uint32_t kAllOps = (1u << 11) - 1;

// "get,search" -> mask. INVALID_ARGUMENT BAD_OPERATION for an unknown name.
Result<uint32_t> ParseOps(std::string_view list);
std::string FormatOps(uint32_t mask);
std::string_view OpName(uint32_t single_op);

// What a call touches.
struct Access {
  uint32_t op = kOpNone;
  enum class Scope {
    kAny,        // no namespace, branch or asset caveat applies (GetInfo)
    kStore,      // store-wide: a token limited to namespaces may not
    kNamespace,  // `ns` is the one namespace touched
    kListing,    // sees namespaces; the caller filters by NamespaceAllowed
  };
  Scope scope = Scope::kStore;
  std::string ns;
  std::optional<std::string> branch;  // when the call names a branch
  // The assets the call names (lowercase hex, each once; a batched read may
  // name many); empty when it names none.
  std::vector<std::string> assets;
  int64_t now_unix_s = 0;
};

// OK when `predicate` holds for `access`; else PERMISSION_DENIED with
// TOKEN_EXPIRED, WRONG_NAMESPACE, OPERATION_NOT_ALLOWED, WRONG_BRANCH,
// WRONG_ASSET or UNKNOWN_CAVEAT.
Status CheckCaveat(std::string_view predicate, const Access& access);

// Whether every `ns` caveat admits `ns` (for listings filtered per token).
bool NamespaceAllowed(const std::vector<std::string>& caveats, std::string_view ns);

// The caveat texts, for minting and attenuating.
std::string NsCaveat(const std::vector<std::string>& namespaces);
std::string OpsCaveat(uint32_t mask);
std::string ExpiresCaveat(int64_t unix_s);
std::string BranchCaveat(const std::vector<std::string>& branches);
std::string AssetCaveat(const std::vector<std::string>& hex_ids);
std::string DpEpsilonCaveat(uint64_t micros);
// The micro-epsilon a `dp_epsilon <= X` caveat allows; nullopt for any other
// caveat (or a malformed one, which CheckCaveat refuses as UNKNOWN_CAVEAT).
std::optional<uint64_t> DpEpsilonLimit(std::string_view caveat);

// "2026-11-26T05:00:00Z" <-> Unix seconds. INVALID_ARGUMENT BAD_TIME.
Result<int64_t> ParseUtc(std::string_view text);
std::string FormatUtc(int64_t unix_s);
// "90s", "15m", "1h", "7d" -> seconds. INVALID_ARGUMENT BAD_DURATION.
Result<int64_t> ParseDuration(std::string_view text);

}  // namespace aifs::auth
