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

namespace aifs::cli {

namespace {

auth::RootKeyStore Keys(Engine& engine) {
  return auth::RootKeyStore(*engine.store().meta, *engine.store().kms);
}

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
  auth::RootKeyStore keys = Keys(engine);
  AIFS_ASSIGN_OR_RETURN(auto existing, keys.List());
  if (!existing.empty()) return std::string();
  AIFS_RETURN_IF_ERROR(keys.Rotate().status());
  auth::TokenVerifier tokens(keys);
  AIFS_ASSIGN_OR_RETURN(std::string token, tokens.Mint(auth::TokenSpec{}));
  AIFS_RETURN_IF_ERROR(WriteFileAtomic(AdminTokenPath(data_dir), token + "\n", 0600));
  return token;
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

Status TokenMint(Engine& engine, const Output& out, const TokenArgs& args) {
  AIFS_ASSIGN_OR_RETURN(auto caveats, CaveatsOf(args));
  auth::RootKeyStore keys = Keys(engine);
  auth::TokenVerifier tokens(keys);
  AIFS_ASSIGN_OR_RETURN(std::string token, tokens.Mint(auth::TokenSpec{}));
  // Minted bare, then narrowed: the same path every holder's attenuation takes.
  AIFS_ASSIGN_OR_RETURN(token, auth::AttenuateToken(token, caveats));
  PrintToken(out, token);
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

Status TokenRotateRoot(Engine& engine, const Output& out) {
  auth::RootKeyStore keys = Keys(engine);
  AIFS_ASSIGN_OR_RETURN(auth::RootKey key, keys.Rotate());
  auth::TokenVerifier tokens(keys);
  AIFS_ASSIGN_OR_RETURN(std::string token, tokens.Mint(auth::TokenSpec{}));
  const std::string path = AdminTokenPath(engine.store().data_dir);
  AIFS_RETURN_IF_ERROR(WriteFileAtomic(path, token + "\n", 0600));
  if (out.json)
    std::cout << nlohmann::json{{"root_key", key.id}, {"admin_token_file", path}}.dump() << "\n";
  else if (!out.quiet)
    std::cout << "new root key " << key.id << " is current; new admin token in " << path
              << "\nolder keys still verify their tokens until `aifs token revoke-root ID`\n";
  return Status::Ok();
}

Status TokenRevokeRoot(Engine& engine, const Output& out, const std::string& key_id) {
  auth::RootKeyStore keys = Keys(engine);
  AIFS_RETURN_IF_ERROR(keys.Revoke(key_id));
  if (!out.quiet && !out.json)
    std::cout << "root key " << key_id << " revoked: every token made under it is refused\n";
  return Status::Ok();
}

Status TokenExportRoot(Engine& engine, const Output& out, const std::string& key_id) {
  auth::RootKeyStore keys = Keys(engine);
  AIFS_ASSIGN_OR_RETURN(auth::RootKey key, keys.Get(key_id));
  if (out.json)
    std::cout << nlohmann::json{{"root_key", key.id}, {"secret", HexEncode(key.secret)}}.dump()
              << "\n";
  else
    std::cout << HexEncode(key.secret) << "\n";
  return Status::Ok();
}

Status TokenKeys(Engine& engine, const Output& out) {
  auth::RootKeyStore keys = Keys(engine);
  AIFS_ASSIGN_OR_RETURN(auto list, keys.List());
  nlohmann::json j = nlohmann::json::array();
  for (const auto& k : list)
    j.push_back({{"id", k.id},
                 {"created", FormatUnixNanos(k.created_unix_ns)},
                 {"state", k.revoked ? "revoked" : k.current ? "current" : "valid"},
                 {"kms_key", k.kms_key_id}});
  if (out.json) {
    std::cout << j.dump(2) << "\n";
    return Status::Ok();
  }
  for (const auto& k : j)
    std::cout << k["id"].get<std::string>() << "  " << k["state"].get<std::string>() << "  "
              << k["created"].get<std::string>() << "  kms " << k["kms_key"].get<std::string>()
              << "\n";
  return Status::Ok();
}

}  // namespace aifs::cli
