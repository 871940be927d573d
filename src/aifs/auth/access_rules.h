// AccessRule: the one table of what each Operation needs from a token.
//
// The engine's CallerApi checks every call against it; the gRPC server's
// method table and the HTTP plane only say which Operation a request is
// (docs/security.md, "One home for every rule"). A rule names the ops (any
// one of them suffices) and the scope: namespace calls are limited by `ns`
// caveats, store-wide calls refused to namespace-limited tokens, listings
// filtered by them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "aifs/api/operation.h"
#include "aifs/auth/caveats.h"

namespace aifs::auth {

struct AccessRule {
  uint32_t ops = kOpNone;  // Op bits; several: any one of them suffices
  Access::Scope scope = Access::Scope::kStore;
};

// Total: every Operation has a rule (a test walks them all).
AccessRule RuleFor(Operation op);

// OK when every caveat (already authenticated: its token's signature was
// checked) holds for `access`; else the first failure, in the token's order.
Status CheckCaveats(const std::vector<std::string>& caveats, const Access& access);

}  // namespace aifs::auth
