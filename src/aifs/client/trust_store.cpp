#include "aifs/client/trust_store.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "aifs/core/file_util.h"
#include "aifs/core/hex.h"

namespace aifs {

std::string TrustStore::DefaultPath() {
  if (const char* p = std::getenv("AIFS_TRUST"); p && *p) return p;
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.config/aifs/trust.json";
}

namespace {
// {"ns": "hex", ...} into `out`; false when malformed.
bool ReadPins(const nlohmann::json& j, std::map<std::string, std::string>& out) {
  if (!j.is_object()) return false;
  for (const auto& [ns, key] : j.items()) {
    if (!key.is_string() || !ParsePublicKey(key.get<std::string>()).ok()) return false;
    out[ns] = key.get<std::string>();
  }
  return true;
}
}  // namespace

Result<TrustStore> TrustStore::Load(const std::string& path) {
  TrustStore ts;
  ts.path_ = path;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ts;  // nothing pinned yet
  AIFS_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  const auto corrupt = [&] {
    return err::DataLoss("TRUST_STORE_CORRUPT", path + " is not a valid trust store");
  };
  if (j.is_discarded() || !j.is_object() || (!j.contains("namespaces") && !j.contains("stores")))
    return corrupt();
  if (j.contains("namespaces") && !ReadPins(j["namespaces"], ts.names_)) return corrupt();
  if (j.contains("stores")) {
    if (!j["stores"].is_object()) return corrupt();
    for (const auto& [store, pins] : j["stores"].items())
      if (store.empty() || !ReadPins(pins, ts.stores_[store])) return corrupt();
  }
  return ts;
}

std::optional<Ed25519PublicKey> TrustStore::Pinned(const std::string& store,
                                                   const std::string& ns) const {
  if (auto s = stores_.find(store); s != stores_.end())
    if (auto it = s->second.find(ns); it != s->second.end()) return *ParsePublicKey(it->second);
  if (auto it = names_.find(ns); it != names_.end()) return *ParsePublicKey(it->second);
  return std::nullopt;
}

std::vector<Ed25519PublicKey> TrustStore::PinnedAnyStore(const std::string& ns) const {
  std::vector<Ed25519PublicKey> keys;
  if (auto it = names_.find(ns); it != names_.end()) keys.push_back(*ParsePublicKey(it->second));
  for (const auto& [store, pins] : stores_)
    if (auto it = pins.find(ns); it != pins.end()) keys.push_back(*ParsePublicKey(it->second));
  return keys;
}

Status TrustStore::Save() const {
  nlohmann::json j;
  j["namespaces"] = nlohmann::json::object();
  for (const auto& [n, k] : names_) j["namespaces"][n] = k;
  j["stores"] = nlohmann::json::object();
  for (const auto& [store, pins] : stores_)
    for (const auto& [n, k] : pins) j["stores"][store][n] = k;
  AIFS_RETURN_IF_ERROR(
      MakeDirs(std::filesystem::path(path_).parent_path().string(), 0700));
  return WriteFileAtomic(path_, j.dump(2) + "\n", 0600);
}

Status TrustStore::Pin(const std::string& store, const std::string& ns,
                       const Ed25519PublicKey& key) {
  if (store.empty())
    names_[ns] = HexEncode(key);
  else
    stores_[store][ns] = HexEncode(key);
  return Save();
}

Status TrustStore::Check(const std::string& store, const std::string& ns,
                         const Ed25519PublicKey& key, bool* newly_pinned) {
  if (newly_pinned) *newly_pinned = false;
  const bool own = !store.empty() && stores_.count(store) && stores_[store].count(ns);
  auto pinned = Pinned(store, ns);
  if (!pinned) {
    if (newly_pinned) *newly_pinned = true;
    return Pin(store, ns, key);
  }
  if (*pinned != key) {
    const std::string whose = store.empty() ? "" : " of store " + store;
    if (own)
      return err::PermissionDenied(
          "KEY_PIN_MISMATCH", "namespace '" + ns + "'" + whose + " is signed by " + HexEncode(key) +
                                  " but " + path_ + " pins " + HexEncode(*pinned));
    return err::PermissionDenied(
        "KEY_PIN_MISMATCH",
        "namespace '" + ns + "'" + whose + " is signed by " + HexEncode(key) + " but " + path_ +
            " pins " + HexEncode(*pinned) + " for '" + ns +
            "' by name only (a pin that predates store IDs, or made without --store); if this "
            "is another store, pin its key: aifs key pin --store " +
            (store.empty() ? std::string("ID") : store) + " --ns " + ns + " KEY");
  }
  if (!own && !store.empty()) {
    // The name-only pin's key belongs to this store: the pin becomes its own,
    // and the name is free for the next store.
    names_.erase(ns);
    return Pin(store, ns, key);
  }
  return Status::Ok();
}

Result<Ed25519PublicKey> ParsePublicKey(std::string_view hex) {
  auto bytes = HexDecode(hex);
  if (!bytes || bytes->size() != 32)
    return err::InvalidArgument("BAD_PUBLIC_KEY", "an Ed25519 public key is 64 lowercase hex");
  Ed25519PublicKey key;
  std::copy(bytes->begin(), bytes->end(), key.begin());
  return key;
}

}  // namespace aifs
