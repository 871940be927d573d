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

Result<TrustStore> TrustStore::Load(const std::string& path) {
  TrustStore ts;
  ts.path_ = path;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ts;  // nothing pinned yet
  AIFS_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("namespaces") ||
      !j["namespaces"].is_object())
    return err::DataLoss("TRUST_STORE_CORRUPT", path + " is not a valid trust store");
  for (const auto& [ns, key] : j["namespaces"].items()) {
    if (!key.is_string() || !ParsePublicKey(key.get<std::string>()).ok())
      return err::DataLoss("TRUST_STORE_CORRUPT", path + ": bad key for namespace " + ns);
    ts.keys_[ns] = key.get<std::string>();
  }
  return ts;
}

std::optional<Ed25519PublicKey> TrustStore::Pinned(const std::string& ns) const {
  auto it = keys_.find(ns);
  if (it == keys_.end()) return std::nullopt;
  return *ParsePublicKey(it->second);
}

Status TrustStore::Pin(const std::string& ns, const Ed25519PublicKey& key) {
  keys_[ns] = HexEncode(key);
  nlohmann::json j;
  j["namespaces"] = nlohmann::json::object();
  for (const auto& [n, k] : keys_) j["namespaces"][n] = k;
  AIFS_RETURN_IF_ERROR(
      MakeDirs(std::filesystem::path(path_).parent_path().string(), 0700));
  return WriteFileAtomic(path_, j.dump(2) + "\n", 0600);
}

Status TrustStore::Check(const std::string& ns, const Ed25519PublicKey& key,
                         bool* newly_pinned) {
  if (newly_pinned) *newly_pinned = false;
  auto pinned = Pinned(ns);
  if (!pinned) {
    if (newly_pinned) *newly_pinned = true;
    return Pin(ns, key);
  }
  if (*pinned != key)
    return err::PermissionDenied("KEY_PIN_MISMATCH",
                                 "namespace '" + ns + "' is signed by " + HexEncode(key) +
                                     " but " + path_ + " pins " + HexEncode(*pinned));
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
