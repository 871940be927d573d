// TrustStore: the client's pinned snapshot-signing keys, one per namespace
// (a JSON file, by default $AIFS_TRUST or ~/.config/aifs/trust.json). The
// first key seen for a namespace is pinned (trust on first use) unless one was
// pinned explicitly; a different key later is refused.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "aifs/storage/signing.h"

namespace aifs {

class TrustStore {
 public:
  static std::string DefaultPath();
  static Result<TrustStore> Load(const std::string& path);

  std::optional<Ed25519PublicKey> Pinned(const std::string& ns) const;
  Status Pin(const std::string& ns, const Ed25519PublicKey& key);  // saves the file

  // OK if `key` is the pinned key of `ns`; pins it (and sets *newly_pinned)
  // when nothing was pinned; PERMISSION_DENIED KEY_PIN_MISMATCH otherwise.
  Status Check(const std::string& ns, const Ed25519PublicKey& key, bool* newly_pinned);

 private:
  std::string path_;
  std::map<std::string, std::string> keys_;  // ns -> lowercase hex
};

Result<Ed25519PublicKey> ParsePublicKey(std::string_view hex);

}  // namespace aifs
