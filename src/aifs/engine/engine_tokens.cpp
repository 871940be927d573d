// Engine's token administration (Api::MintToken and friends): a thin layer
// over auth's root keys, revocations and verifier, which the server's token
// checks share, so a revocation holds for the very next call.
#include "aifs/auth/macaroon.h"
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

}  // namespace

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
  for (const auth::RootKeyInfo& k : keys)
    out.keys.push_back({k.id, k.created_unix_ns, k.revoked, k.current, k.kms_key_id});
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
