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
// them when next rewritten (Rotate). Thread-safe.
#pragma once

#include <map>
#include <memory>
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
  explicit LocalKms(std::string path) : path_(std::move(path)) {}
  Status Load();
  Status Save() const;  // caller holds mu_
  static std::string KeyId(uint32_t version) { return "local:v" + std::to_string(version); }

  std::string path_;
  mutable std::shared_mutex mu_;
  std::map<uint32_t, KeyVersion> keys_;  // version -> key; the last is current
};

}  // namespace aifs
