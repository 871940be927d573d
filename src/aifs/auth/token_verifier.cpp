#include "aifs/auth/token_verifier.h"

#include <ctime>

#include "aifs/auth/macaroon.h"
#include "aifs/core/hex.h"
#include "aifs/core/random.h"

namespace aifs::auth {

namespace {

Status Malformed(std::string why) {
  return Status(Code::kUnauthenticated, "TOKEN_MALFORMED", "the token is not an AIFS token: " + why);
}

}  // namespace

std::vector<std::string> SpecCaveats(const TokenSpec& spec) {
  std::vector<std::string> out;
  if (!spec.namespaces.empty()) out.push_back(NsCaveat(spec.namespaces));
  if (spec.ops != kAllOps) out.push_back(OpsCaveat(spec.ops));
  if (spec.expires_unix_s) out.push_back(ExpiresCaveat(*spec.expires_unix_s));
  if (!spec.branches.empty()) out.push_back(BranchCaveat(spec.branches));
  if (!spec.assets.empty()) out.push_back(AssetCaveat(spec.assets));
  return out;
}

Result<TokenId> ParseTokenIdentifier(std::string_view identifier) {
  const size_t colon = identifier.find(':');
  if (colon == std::string_view::npos) return Malformed("its identifier has no key ID");
  TokenId id{std::string(identifier.substr(0, colon)), std::string(identifier.substr(colon + 1))};
  if (id.key_id.empty() || id.key_id.size() > 16 || id.token_id.size() != 32 ||
      !IsLowerHex(id.token_id))
    return Malformed("its identifier is not <key id>:<32 hex digits>");
  return id;
}

Result<std::string> AttenuateToken(std::string_view token,
                                   const std::vector<std::string>& caveats) {
  AIFS_ASSIGN_OR_RETURN(Macaroon m, Macaroon::Parse(token));
  for (const std::string& c : caveats) {
    // A caveat the server cannot read would lock the token out entirely;
    // refuse it here, where the holder can still fix the typo.
    Access probe;
    probe.scope = Access::Scope::kAny;
    Status st = CheckCaveat(c, probe);
    if (st.reason() == "UNKNOWN_CAVEAT")
      return err::InvalidArgument("BAD_CAVEAT", "'" + c + "' is not an AIFS caveat");
    AIFS_ASSIGN_OR_RETURN(m, m.AddCaveat(c));
  }
  return m.Serialize();
}

Result<std::string> TokenVerifier::Mint(const TokenSpec& spec) {
  AIFS_ASSIGN_OR_RETURN(RootKey key, keys_.Current());
  uint8_t nonce[16];
  AIFS_RETURN_IF_ERROR(SecureRandom(nonce));
  const std::string identifier = key.id + ":" + HexEncode(nonce);
  AIFS_ASSIGN_OR_RETURN(Macaroon m, Macaroon::Mint(kTokenLocation, key.secret, identifier));
  for (const std::string& c : SpecCaveats(spec)) {
    AIFS_ASSIGN_OR_RETURN(m, m.AddCaveat(c));
  }
  return m.Serialize();
}

Result<VerifiedToken> TokenVerifier::Authenticate(std::string_view token) const {
  Access any;
  any.scope = Access::Scope::kAny;
  any.now_unix_s = static_cast<int64_t>(std::time(nullptr));
  return Verify(token, any);
}

struct TokenVerifier::Parsed {
  Macaroon macaroon;
  TokenId id;
};

Result<std::shared_ptr<const TokenVerifier::Parsed>> TokenVerifier::Parse(
    std::string_view token) const {
  {
    std::lock_guard lock(parsed_mu_);
    if (auto it = parsed_.find(std::string(token)); it != parsed_.end()) return it->second;
  }
  AIFS_ASSIGN_OR_RETURN(Macaroon m, Macaroon::Parse(token));
  AIFS_ASSIGN_OR_RETURN(TokenId id, ParseTokenIdentifier(m.identifier()));
  auto parsed = std::make_shared<const Parsed>(Parsed{std::move(m), std::move(id)});
  std::lock_guard lock(parsed_mu_);
  if (parsed_.size() >= kMaxParsed) parsed_.clear();
  parsed_.emplace(std::string(token), parsed);
  return parsed;
}

Result<VerifiedToken> TokenVerifier::Verify(std::string_view token, const Access& access) const {
  AIFS_ASSIGN_OR_RETURN(std::shared_ptr<const Parsed> parsed, Parse(token));
  const Macaroon& m = parsed->macaroon;
  const TokenId& id = parsed->id;
  AIFS_ASSIGN_OR_RETURN(RootKey key, keys_.Get(id.key_id));
  Status denied;
  const bool ok = m.Verify(key.secret, [&](std::string_view predicate) {
    Status st = CheckCaveat(predicate, access);
    if (!st.ok() && denied.ok()) denied = st;
    return st.ok();
  });
  // A caveat's verdict, and a revocation, count only for a genuine token: a
  // forged one learns nothing but BAD_SIGNATURE.
  const bool genuine = ok || m.Verify(key.secret, [](std::string_view) { return true; });
  if (!genuine || (!ok && denied.ok()))
    return Status(Code::kUnauthenticated, "BAD_SIGNATURE",
                  "the token's signature does not match: forged or altered");
  AIFS_ASSIGN_OR_RETURN(bool revoked, revocations_.IsRevoked(id.token_id));
  if (revoked)
    return Status(Code::kUnauthenticated, "TOKEN_REVOKED",
                  "token " + id.token_id + " has been revoked");
  if (!ok) return denied;
  return VerifiedToken{id, m.caveats()};
}

}  // namespace aifs::auth
