// CallerApi and Gate: how a network face serves a caller it does not trust.
//
// A face (gRPC, HTTP, FUSE over a remote store) never decides what a caller
// may do. It hands the caller's credential to the Gate (the engine), which
// verifies it and returns a CallerApi: the whole Api, bound to that caller,
// that checks every call against the caller's rights before it runs (the
// rules: auth/access_rules.h; docs/security.md, "One home for every rule").
// The face then only translates its wire format into CallerApi calls.
//
// Promise: a CallerApi call the caller may not make fails with
// PERMISSION_DENIED and the stable reason of the first right it lacks
// (WRONG_NAMESPACE, OPERATION_NOT_ALLOWED, WRONG_ASSET, TOKEN_EXPIRED ...)
// and has no effect. What a caller lists is filtered to what it may see;
// tokens it mints carry its own limits too; every audit record it causes
// (branch and tag logs, snapshot authors, format runs) names the verified
// caller, never a name the caller claims. Thread-safe like Api.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aifs/api/api.h"
#include "aifs/api/operation.h"

namespace aifs {

// What one call touches, as the rules see it.
struct CallTarget {
  std::string ns;                     // "" : no namespace (store-wide calls)
  std::optional<std::string> branch;  // when the call names a branch
  std::vector<AssetId> assets;        // the assets the call names (a batch: many)
};

class CallerApi : public Api {
 public:
  // OK when the caller may make `op` on `target`; the PERMISSION_DENIED of
  // the first failing right otherwise. Faces call it for what they serve
  // themselves (metrics), and may call it early to refuse a call before
  // reading its body; every Api call of this object checks again anyway.
  virtual Status Allow(Operation op, const CallTarget& target) = 0;
  // A stable key per credential for per-caller limits: attenuated copies of
  // a token share it.
  virtual const std::string& caller_key() const = 0;
  // Who the caller is in audit records ("token r1:5f0c...").
  virtual const std::string& caller_name() const = 0;
};

// What a pre-signed URL (docs/http.md) claims, as read off the URL.
struct UrlClaim {
  std::string ns;
  std::string id_hex;
  std::string as_of;      // "" : the live head
  std::string file_name;  // for Content-Disposition; "" : none
  std::string expires;    // decimal Unix seconds, as written in the URL
  std::string key_id;     // "u1", ...
  std::string signature;  // hex HMAC-SHA256
};

class Gate {
 public:
  virtual ~Gate() = default;
  // Verifies a bearer token: UNAUTHENTICATED (TOKEN_MISSING for "",
  // TOKEN_MALFORMED, BAD_SIGNATURE, UNKNOWN_KEY, KEY_REVOKED, TOKEN_REVOKED)
  // or PERMISSION_DENIED (TOKEN_EXPIRED, UNKNOWN_CAVEAT) when it proves
  // nothing; else the Api of its holder.
  virtual Result<std::unique_ptr<CallerApi>> Admit(std::string_view token) = 0;
  // Verifies a pre-signed URL: PERMISSION_DENIED URL_EXPIRED, BAD_SIGNATURE,
  // UNKNOWN_KEY, KEY_REVOKED, URL_MALFORMED. The Api it returns reads (stat,
  // read, ranges) the one asset of the URL in its namespace as of its ref,
  // and nothing else.
  virtual Result<std::unique_ptr<CallerApi>> AdmitUrl(const UrlClaim& claim) = 0;
  // Probes the backends (Api::CheckHealth) for health endpoints: no caller.
  virtual Status CheckHealth() = 0;
  // Hands back to the system the memory kept for reuse by work that has
  // ended (buffers of puts, freed heap pages): for a server after a burst of
  // puts, so that its RSS returns to its baseline.
  virtual void ReleaseIdleMemory() {}
};

}  // namespace aifs
