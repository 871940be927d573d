// LocalKms: master keys kept in one 0600 keyfile inside the data directory.
//
// The keyfile holds every key version ("local:v1", "local:v2" ...); the newest
// wraps new data keys, older ones stay for unwrapping. It is rewritten
// atomically on rotation. This protects data at rest against anyone who gets
// the chunk files but not the keyfile; use an HSM-backed KMS for more.
//
// Each key line carries a check value (BLAKE3 of the line's version, time and
// key, format "aifs-local-kms 2"): Open() refuses a keyfile whose key does not
// match it with DATA_LOSS KMS_KEY_CORRUPT, so a damaged key is never taken for
// damaged chunks. Keyfiles of format 1 (no check values) still open and get
// them when next rewritten (Rotate).
//
// Several processes may share one keyfile (the servers of one store on one
// machine or on a shared filesystem): a key version this process does not
// know is looked up in the file again before Unwrap/WrapWith fail; the
// current version is re-read at most once a second when the file changed
// (so a rotation through one server reaches the others within a second);
// and Rotate() adds its version to the file as it is then, under an
// exclusive lock on "<keyfile>.lock", so two rotations never drop each
// other's key. A re-read that finds a key version of this process changed
// or gone fails with DATA_LOSS KMS_KEY_CHANGED and keeps the keys in memory.
// Thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>

#include "aifs/storage/kms.h"

namespace aifs {

class LocalKms : public Kms {
 public:
  static Result<std::unique_ptr<Kms>> Open(const std::string& path, bool create);
  ~LocalKms() override;

  std::string Kind() const override { return "local"; }
  std::string CurrentKeyId() const override;
  std::vector<KmsKeyInfo> ListKeys() const override;
  Result<WrappedKey> WrapWith(std::string_view key_id, const AesKey& data_key,
                              ByteSpan context) override;
  Result<AesKey> Unwrap(std::string_view key_id, ByteSpan blob, ByteSpan context) override;
  Result<std::string> Rotate() override;

 private:
  struct KeyVersion {
    AesKey key;
    int64_t created_unix_ns;
  };
  using KeyMap = std::map<uint32_t, KeyVersion>;  // version -> key; the last is current
  explicit LocalKms(std::string path) : path_(std::move(path)) {}
  Result<KeyMap> ReadKeyfile() const;
  // Re-reads the keyfile into keys_; the caller holds mu_ exclusively.
  Status ReloadLocked() const;
  // ReloadLocked() when a second has passed since the last look and the
  // file's change time or size moved.
  void ReloadIfChanged() const;
  // The key of `version`, re-reading the keyfile once when it is not known:
  // NOT_FOUND KMS_KEY_NOT_FOUND, or the re-read's error.
  Result<KeyVersion> Find(uint32_t version) const;
  Status Save() const;  // caller holds mu_
  static std::string KeyId(uint32_t version) { return "local:v" + std::to_string(version); }

  std::string path_;
  mutable std::shared_mutex mu_;
  // What the keyfile held when last read (a cache of it: mutable).
  mutable KeyMap keys_;
  mutable std::string stamp_;  // the file's change time and size then
  mutable std::chrono::steady_clock::time_point looked_at_{};
};

}  // namespace aifs
