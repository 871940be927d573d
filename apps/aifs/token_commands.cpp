#include "token_commands.h"

#include <unistd.h>

#include <ctime>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "aifs/auth/macaroon.h"
#include "aifs/auth/token_verifier.h"
#include "aifs/core/clock.h"
#include "aifs/core/file_util.h"
#include "aifs/core/hex.h"
#include "aifs/privacy/epsilon.h"

namespace aifs::cli {

namespace {

Result<std::string> ReadToken(const std::string& value) {
  if (value.empty())
    return err::InvalidArgument("TOKEN_MISSING", "give a token (argument, @FILE or - for stdin)");
  if (value == "-") {
    std::string all((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    while (!all.empty() && std::isspace(static_cast<unsigned char>(all.back()))) all.pop_back();
    return all;
  }
  return ResolveToken(value);
}

// The spec's caveats, then the raw ones, in that order.
Result<std::vector<std::string>> CaveatsOf(const TokenArgs& args) {
  auth::TokenSpec spec;
  spec.namespaces = args.namespaces;
  for (const std::string& ns : spec.namespaces) AIFS_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  if (!args.ops.empty()) {
    AIFS_ASSIGN_OR_RETURN(spec.ops, auth::ParseOps(args.ops));
  }
  if (!args.expires.empty()) {
    auto at = auth::ParseUtc(args.expires);
    if (at.ok()) {
      spec.expires_unix_s = *at;
    } else {
      AIFS_ASSIGN_OR_RETURN(int64_t secs, auth::ParseDuration(args.expires));
      spec.expires_unix_s = static_cast<int64_t>(std::time(nullptr)) + secs;
    }
  }
  spec.branches = args.branches;
  spec.assets = args.assets;
  std::vector<std::string> caveats = auth::SpecCaveats(spec);
  if (!args.dp_epsilon.empty()) {
    AIFS_ASSIGN_OR_RETURN(uint64_t micros, privacy::ParseEpsilon(args.dp_epsilon));
    caveats.push_back(auth::DpEpsilonCaveat(micros));
  }
  caveats.insert(caveats.end(), args.caveats.begin(), args.caveats.end());
  return caveats;
}

void PrintToken(const Output& out, const std::string& token) {
  if (out.json)
    std::cout << nlohmann::json{{"token", token}}.dump() << "\n";
  else
    std::cout << token << "\n";
}

}  // namespace

std::string AdminTokenPath(const std::string& data_dir) { return data_dir + "/admin.token"; }

Result<std::string> BootstrapTokens(Engine& engine, const std::string& data_dir) {
  AIFS_ASSIGN_OR_RETURN(TokenKeyring existing, engine.ListTokenKeys());
  if (!existing.keys.empty()) return std::string();
  AIFS_ASSIGN_OR_RETURN(RotatedTokenRoot made, engine.RotateTokenRoot({}));
  AIFS_RETURN_IF_ERROR(WriteFileAtomic(AdminTokenPath(data_dir), made.token + "\n", 0600));
  return made.token;
}

Result<std::string> ResolveToken(const std::string& value) {
  if (!value.starts_with("@")) return value;
  auto text = ReadFileToString(value.substr(1));
  if (!text.ok())
    return err::InvalidArgument("TOKEN_FILE", "cannot read the token file " + value.substr(1) +
                                                  ": " + text.status().message());
  std::string t = *text;
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
  return t;
}

Status TokenMint(Api& api, const Output& out, const TokenArgs& args) {
  AIFS_ASSIGN_OR_RETURN(auto caveats, CaveatsOf(args));
  AIFS_ASSIGN_OR_RETURN(std::string token, api.MintToken(caveats));
  PrintToken(out, token);
  return Status::Ok();
}

Status TokenRevoke(Api& api, const Output& out, const TokenArgs& args) {
  // A token ID passes through ReadToken unchanged, like a token given inline.
  AIFS_ASSIGN_OR_RETURN(std::string what, ReadToken(args.token));
  AIFS_RETURN_IF_ERROR(api.RevokeToken(what));
  if (out.json)
    std::cout << nlohmann::json{{"revoked", true}}.dump() << "\n";
  else if (!out.quiet)
    std::cout << "revoked: the token and every attenuated copy of it are refused\n";
  return Status::Ok();
}

Status TokenAttenuate(const Output& out, const TokenArgs& args) {
  AIFS_ASSIGN_OR_RETURN(std::string token, ReadToken(args.token));
  AIFS_ASSIGN_OR_RETURN(auto caveats, CaveatsOf(args));
  if (caveats.empty())
    return err::InvalidArgument("NO_CAVEATS", "attenuating needs at least one caveat");
  AIFS_ASSIGN_OR_RETURN(token, auth::AttenuateToken(token, caveats));
  PrintToken(out, token);
  return Status::Ok();
}

Status TokenInspect(const Output& out, const TokenArgs& args) {
  AIFS_ASSIGN_OR_RETURN(std::string token, ReadToken(args.token));
  AIFS_ASSIGN_OR_RETURN(auth::Macaroon m, auth::Macaroon::Parse(token));
  AIFS_ASSIGN_OR_RETURN(auth::TokenId id, auth::ParseTokenIdentifier(m.identifier()));
  if (out.json) {
    std::cout << nlohmann::json{{"location", m.location()},
                                {"root_key", id.key_id},
                                {"token_id", id.token_id},
                                {"caveats", m.caveats()}}
                     .dump(2)
              << "\n";
    return Status::Ok();
  }
  std::cout << "location: " << m.location() << "\nroot key: " << id.key_id
            << "\ntoken id: " << id.token_id << "\ncaveats:";
  if (m.caveats().empty()) std::cout << " none (full access)";
  std::cout << "\n";
  for (const std::string& c : m.caveats()) std::cout << "  " << c << "\n";
  return Status::Ok();
}

Status TokenRotateRoot(Api& api, const Output& out, const TokenArgs& args) {
  AIFS_ASSIGN_OR_RETURN(RotatedTokenRoot r, api.RotateTokenRoot({}));
  const std::string& path = args.admin_token_file;
  if (!path.empty()) AIFS_RETURN_IF_ERROR(WriteFileAtomic(path, r.token + "\n", 0600));
  if (out.json) {
    nlohmann::json j = {{"root_key", r.key_id}};
    if (path.empty())
      j["admin_token"] = r.token;
    else
      j["admin_token_file"] = path;
    std::cout << j.dump() << "\n";
  } else if (path.empty()) {
    std::cout << r.token << "\n";  // a remote admin keeps it where they like
  } else if (!out.quiet) {
    std::cout << "new root key " << r.key_id << " is current; new admin token in " << path
              << "\nolder keys still verify their tokens until `aifs token revoke-root ID`\n";
  }
  return Status::Ok();
}

Status TokenRevokeRoot(Api& api, const Output& out, const std::string& key_id) {
  AIFS_RETURN_IF_ERROR(api.RevokeTokenRoot(key_id));
  if (!out.quiet && !out.json)
    std::cout << "root key " << key_id << " revoked: every token made under it is refused\n";
  return Status::Ok();
}

Status TokenExportRoot(Engine& engine, const Output& out, const std::string& key_id) {
  AIFS_ASSIGN_OR_RETURN(auth::RootKey key, engine.tokens().keys().Get(key_id));
  if (out.json)
    std::cout << nlohmann::json{{"root_key", key.id}, {"secret", HexEncode(key.secret)}}.dump()
              << "\n";
  else
    std::cout << HexEncode(key.secret) << "\n";
  return Status::Ok();
}

nlohmann::json KeyJson(const TokenRootKey& k) {
  return {{"id", k.id},
          {"created", FormatUnixNanos(k.created_unix_ns)},
          {"state", k.revoked   ? "revoked"
                    : k.current ? "current"
                                : "valid"},
          {"kms_key", k.kms_key_id}};
}

void PrintKeyLines(const nlohmann::json& keys) {
  for (const auto& k : keys)
    std::cout << k["id"].get<std::string>() << "  " << k["state"].get<std::string>() << "  "
              << k["created"].get<std::string>() << "  kms " << k["kms_key"].get<std::string>()
              << "\n";
}

Status TokenKeys(Api& api, const Output& out) {
  AIFS_ASSIGN_OR_RETURN(TokenKeyring ring, api.ListTokenKeys());
  nlohmann::json keys = nlohmann::json::array(), revoked = nlohmann::json::array();
  for (const TokenRootKey& k : ring.keys) keys.push_back(KeyJson(k));
  for (const RevokedTokenId& r : ring.revoked_tokens)
    revoked.push_back({{"token_id", r.token_id}, {"revoked", FormatUnixNanos(r.revoked_unix_ns)}});
  if (out.json) {
    std::cout << nlohmann::json{{"root_keys", keys}, {"revoked_tokens", revoked}}.dump(2) << "\n";
    return Status::Ok();
  }
  PrintKeyLines(keys);
  for (const auto& r : revoked)
    std::cout << "revoked token " << r["token_id"].get<std::string>() << "  "
              << r["revoked"].get<std::string>() << "\n";
  return Status::Ok();
}

}  // namespace aifs::cli
