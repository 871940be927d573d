// `aifs token ...` and the token side of `init` and `serve`.
//
// Minting, revoking and root-key management go through the Api: on the data
// directory (mint and keys also beside a running server, through a read-only
// open) or, with --server, through the Admin RPCs with an admin token.
// Attenuate and inspect need nothing but the token: any holder can narrow a
// token offline. Exporting a root key works on the data directory only.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "aifs/engine/engine.h"
#include "commands.h"

namespace aifs::cli {

// <data>/admin.token: where init (and a first serve) leave the admin token.
std::string AdminTokenPath(const std::string& data_dir);

// Makes the first root key and an admin token (no caveats) when the store has
// no root key yet; writes it to AdminTokenPath (mode 0600). Returns the token,
// or "" when the store already had keys.
Result<std::string> BootstrapTokens(Engine& engine, const std::string& data_dir);

// The token for remote calls: --token / AIFS_TOKEN, where "@FILE" reads it
// from FILE (trailing whitespace dropped).
Result<std::string> ResolveToken(const std::string& value);

struct TokenArgs {
  std::string token;  // attenuate / inspect: the token, "@FILE", or "-" (stdin)
  std::vector<std::string> namespaces;
  std::string ops;      // "get,search"
  std::string expires;  // "1h" or "2026-11-26T05:00:00Z"
  std::vector<std::string> branches;
  std::vector<std::string> assets;
  std::vector<std::string> caveats;  // raw predicates
  std::string dp_epsilon;            // "0.5": a privacy budget caveat (docs/privacy.md)
  std::string key_id;                // revoke-root
  // rotate-root: where the new admin token goes ("" prints it: remote).
  std::string admin_token_file;
};

Status TokenMint(Api& api, const Output& out, const TokenArgs& args);
Status TokenAttenuate(const Output& out, const TokenArgs& args);
Status TokenInspect(const Output& out, const TokenArgs& args);
// args.token: the token (or @FILE, -) or its ID.
Status TokenRevoke(Api& api, const Output& out, const TokenArgs& args);
Status TokenRotateRoot(Api& api, const Output& out, const TokenArgs& args);
Status TokenRevokeRoot(Api& api, const Output& out, const std::string& key_id);
Status TokenKeys(Api& api, const Output& out);
// One key of a ring (token root keys, URL keys) as shown by `keys`.
nlohmann::json KeyJson(const TokenRootKey& key);
// The keys as lines: "ID  STATE  CREATED  kms KEY".
void PrintKeyLines(const nlohmann::json& keys);
// Prints a root key in hex, for escrow or another verifier (pymacaroons):
// whoever holds it can mint any token.
Status TokenExportRoot(Engine& engine, const Output& out, const std::string& key_id);

}  // namespace aifs::cli
