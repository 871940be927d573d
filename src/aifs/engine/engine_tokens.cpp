// Engine's credentials: token administration (Api::MintToken and friends)
// over auth's root keys, revocations and verifier; pre-signed URLs and their
// keys; and the Gate that turns a token or URL into a CheckedApi. One
// verifier serves them all, so a revocation holds for the very next call.
#include <ctime>

#include "aifs/auth/macaroon.h"
#include "aifs/auth/url_signature.h"
#include "aifs/core/hex.h"
#include "aifs/core/utf8.h"
#include "aifs/engine/caller_api.h"
#include "aifs/engine/engine.h"

namespace aifs {

namespace {

// "<32 hex digits>" stays as it is; a whole token yields its ID.
Result<std::string> TokenIdOf(const std::string& token_or_id) {
  if (token_or_id.size() == 32) return token_or_id;
  AIFS_ASSIGN_OR_RETURN(auth::Macaroon m, auth::Macaroon::Parse(token_or_id));
  AIFS_ASSIGN_OR_RETURN(auth::TokenId id, auth::ParseTokenIdentifier(m.identifier()));
  return id.token_id;
}

// Minted bare, then narrowed: the same path every holder's attenuation takes
// (and the same refusal of caveats the server could not read).
Result<std::string> MintWith(auth::TokenVerifier& tokens, const std::vector<std::string>& caveats) {
  AIFS_ASSIGN_OR_RETURN(std::string token, tokens.Mint(auth::TokenSpec{}));
  return auth::AttenuateToken(token, caveats);
}

constexpr int64_t kMaxUrlLifetime = 7 * 24 * 3600;

int64_t NowSeconds() { return static_cast<int64_t>(std::time(nullptr)); }

// URL credentials fail as 403s: the holder cannot fix them by logging in.
Status UrlDenied(const Status& st) {
  if (st.code() != Code::kUnauthenticated) return st;
  return Status(Code::kPermissionDenied, std::string(st.reason()), st.message());
}

std::vector<TokenRootKey> KeyInfos(const std::vector<auth::RootKeyInfo>& keys) {
  std::vector<TokenRootKey> out;
  for (const auth::RootKeyInfo& k : keys)
    out.push_back({k.id, k.created_unix_ns, k.revoked, k.current, k.kms_key_id});
  return out;
}

}  // namespace

Result<std::unique_ptr<CallerApi>> Engine::Admit(std::string_view token) {
  if (token.empty())
    return Status(Code::kUnauthenticated, "TOKEN_MISSING",
                  "this call needs a token: authorization: Bearer <token> (aifs --token / "
                  "AIFS_TOKEN)");
  AIFS_ASSIGN_OR_RETURN(auth::VerifiedToken who, tokens_.Authenticate(token));
  CallerIdentity caller{.caveats = std::move(who.caveats),
                        .key = who.id.key_id + ":" + who.id.token_id,
                        .name = "token " + who.id.key_id + ":" + who.id.token_id,
                        .token = std::string(token)};
  return std::unique_ptr<CallerApi>(
      std::make_unique<CheckedApi>(*this, tokens_, std::move(caller)));
}

Result<std::unique_ptr<CallerApi>> Engine::AdmitUrl(const UrlClaim& claim) {
  auto malformed = [](const std::string& why) {
    return Status(Code::kPermissionDenied, "URL_MALFORMED",
                  "the URL is not a signed AIFS URL: " + why);
  };
  if (claim.key_id.empty() || claim.signature.empty() || claim.expires.empty())
    return malformed("it needs exp, kid and sig");
  if (claim.expires.size() > 18 ||
      claim.expires.find_first_not_of("0123456789") != std::string::npos)
    return malformed("exp is not a time");
  auto id = AssetId::Parse(claim.id_hex);
  if (!id.ok()) return malformed("the asset ID is not 64 hex digits");
  auto key = url_keys_.Get(claim.key_id);
  if (!key.ok()) return UrlDenied(key.status());
  if (!auth::UrlSignatureMatches(key->secret, claim))
    return Status(Code::kPermissionDenied, "BAD_SIGNATURE",
                  "the URL's signature does not match: altered, or not signed by this store");
  const int64_t expires = std::stoll(claim.expires);
  if (NowSeconds() >= expires)
    return Status(Code::kPermissionDenied, "URL_EXPIRED",
                  "the URL expired at " + auth::FormatUtc(expires));
  CallerIdentity caller{
      .caveats = {auth::NsCaveat({claim.ns}), auth::OpsCaveat(auth::kOpGet),
                  auth::AssetCaveat({claim.id_hex}), auth::ExpiresCaveat(expires)},
      .key = "url:" + claim.key_id + ":" + claim.signature,
      .name = "url " + claim.key_id + ":" + claim.signature.substr(0, 16),
      .only = std::set<Operation>{Operation::kStatAsset, Operation::kReadAsset},
      .pinned_as_of = claim.as_of};
  return std::unique_ptr<CallerApi>(
      std::make_unique<CheckedApi>(*this, tokens_, std::move(caller)));
}

Result<SignedUrl> Engine::SignUrl(const UrlRequest& request) {
  if (request.expires_s < 1 || request.expires_s > kMaxUrlLifetime)
    return err::InvalidArgument("BAD_EXPIRY", "a URL lives 1 s to 7 days; asked " +
                                                  std::to_string(request.expires_s) + " s");
  if (request.file_name.size() > 255 || !ValidUtf8(request.file_name) ||
      request.file_name.find_first_of(std::string("\0/\\\r\n", 5)) != std::string::npos)
    return err::InvalidArgument("BAD_FILE_NAME",
                                "a URL's file name is UTF-8 without '/', '\\', CR, LF or NUL, "
                                "at most 255 bytes");
  // The asset must be readable as asked: a URL to nothing helps no one.
  AIFS_RETURN_IF_ERROR(StatAssetAt(request.ns, request.id, request.as_of, false).status());
  auto key = url_keys_.Current();
  if (!key.ok() && key.status().reason() == "NO_ROOT_KEY") {
    AIFS_RETURN_IF_ERROR(RequireWritable());
    key = url_keys_.Rotate();
  }
  if (!key.ok()) return key.status();
  const int64_t expires = NowSeconds() + request.expires_s;
  UrlClaim claim{.ns = request.ns,
                 .id_hex = request.id.ToHex(),
                 .as_of = request.as_of,
                 .file_name = request.file_name,
                 .expires = std::to_string(expires),
                 .key_id = key->id};
  claim.signature = auth::SignUrlClaim(key->secret, claim);
  std::string q = "/v1/assets/" + auth::PercentEncode(claim.ns) + "/" + claim.id_hex + "?";
  if (!claim.as_of.empty()) q += "as_of=" + auth::PercentEncode(claim.as_of) + "&";
  if (!claim.file_name.empty()) q += "name=" + auth::PercentEncode(claim.file_name) + "&";
  q += "exp=" + claim.expires + "&kid=" + claim.key_id + "&sig=" + claim.signature;
  return SignedUrl{.path_and_query = std::move(q), .expires_unix_s = expires, .key_id = key->id};
}

Result<std::vector<TokenRootKey>> Engine::ListUrlKeys() {
  AIFS_ASSIGN_OR_RETURN(auto keys, url_keys_.List());
  return KeyInfos(keys);
}

Result<std::string> Engine::RotateUrlKey() {
  AIFS_RETURN_IF_ERROR(RequireWritable());
  AIFS_ASSIGN_OR_RETURN(auth::RootKey key, url_keys_.Rotate());
  return key.id;
}

Status Engine::RevokeUrlKey(const std::string& key_id) {
  AIFS_RETURN_IF_ERROR(RequireWritable());
  return url_keys_.Revoke(key_id);
}

Result<std::string> Engine::MintToken(const std::vector<std::string>& caveats) {
  return MintWith(tokens_, caveats);
}

Status Engine::RevokeToken(const std::string& token_or_id) {
  AIFS_RETURN_IF_ERROR(RequireWritable());
  auto id = TokenIdOf(token_or_id);
  if (!id.ok())
    return err::InvalidArgument("BAD_TOKEN_ID", "give a token or its 32-hex-digit ID: " +
                                                    id.status().message());
  return revocations_.Revoke(*id);
}

Result<TokenKeyring> Engine::ListTokenKeys() {
  TokenKeyring out;
  AIFS_ASSIGN_OR_RETURN(auto keys, root_keys_.List());
  out.keys = KeyInfos(keys);
  AIFS_ASSIGN_OR_RETURN(auto revoked, revocations_.List());
  for (const auth::RevokedToken& r : revoked)
    out.revoked_tokens.push_back({r.token_id, r.revoked_unix_ns});
  return out;
}

Result<RotatedTokenRoot> Engine::RotateTokenRoot(const std::vector<std::string>& caveats) {
  AIFS_RETURN_IF_ERROR(RequireWritable());
  AIFS_ASSIGN_OR_RETURN(auth::RootKey key, root_keys_.Rotate());
  AIFS_ASSIGN_OR_RETURN(std::string token, MintWith(tokens_, caveats));
  return RotatedTokenRoot{key.id, token};
}

Status Engine::RevokeTokenRoot(const std::string& key_id) {
  AIFS_RETURN_IF_ERROR(RequireWritable());
  return root_keys_.Revoke(key_id);
}

}  // namespace aifs
