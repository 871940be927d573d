// TrustStore: the client's pinned snapshot-signing keys, one per store and
// namespace (a JSON file, by default $AIFS_TRUST or ~/.config/aifs/trust.json).
// Every store's first namespace is "default", so a pin names the store too:
// its identity is StoreDescription::store_id. The first key seen for a store's
// namespace is pinned (trust on first use) unless one was pinned explicitly;
// a different key later is refused.
//
// Name-only pins (files written before store IDs, or a store that reports
// no ID) say "this namespace, whichever
// store": the first store that shows the pinned key claims the pin (it becomes
// that store's), and until then any other key for that name is refused: an
// old pin never silently accepts a different key.
//
// File: {"stores": {"<store id>": {"<ns>": "<key hex>"}},
//        "namespaces": {"<ns>": "<key hex>"}}   (name-only pins)
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "aifs/storage/signing.h"

namespace aifs {

class TrustStore {
 public:
  static std::string DefaultPath();
  static Result<TrustStore> Load(const std::string& path);

  // The key pinned for `ns` of `store` (the name-only pin when `store` is
  // empty or has none for `ns`).
  std::optional<Ed25519PublicKey> Pinned(const std::string& store, const std::string& ns) const;
  // Every key that may sign `ns` when the store is unknown (a proof without
  // a store ID): the name-only pin and every store's pin for `ns`.
  std::vector<Ed25519PublicKey> PinnedAnyStore(const std::string& ns) const;
  // Pins `key` for `ns` of `store` (name-only when `store` is empty); saves.
  Status Pin(const std::string& store, const std::string& ns, const Ed25519PublicKey& key);

  // OK if `key` is the key pinned for `ns` of `store`, or the name-only pin
  // for `ns` (which `store` then claims). Pins it (and sets *newly_pinned)
  // when nothing was pinned; PERMISSION_DENIED KEY_PIN_MISMATCH otherwise.
  Status Check(const std::string& store, const std::string& ns, const Ed25519PublicKey& key,
               bool* newly_pinned);

 private:
  Status Save() const;

  std::string path_;
  std::map<std::string, std::map<std::string, std::string>> stores_;  // store -> ns -> hex
  std::map<std::string, std::string> names_;                          // ns -> hex (name-only)
};

Result<Ed25519PublicKey> ParsePublicKey(std::string_view hex);

}  // namespace aifs
