// Pkcs11Kms: data keys wrapped by AES-256 keys that never leave a PKCS#11
// token (an HSM; SoftHSM2 in tests).
//
// URL (RFC 7512 PKCS#11 URI syntax, values percent-encoded where needed):
//
//   pkcs11:token=<label>;object=<key label prefix>
//          ?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/aifs/pin
//
//   object      key version N is the secret key labelled "<object>-v<N>"
//               (default "aifs-kek"); its key ID is "pkcs11:<object>-v<N>".
//   pin-source  "file:/abs/path" (a 0600 file; one trailing newline ignored)
//               or "env:NAME" (default "env:AIFS_PKCS11_PIN"). A pin-value in
//               the URL is refused: the URL is stored in the data directory.
//
// Promise: the key versions are generated on the token as sensitive,
// non-extractable AES-256 keys usable only to encrypt and decrypt; Open
// refuses a token key with the prefix that is extractable or readable. A data
// key is wrapped with CKM_AES_GCM (C_Encrypt, fresh 96-bit IV, 128-bit tag)
// with the key ID and the caller's context as AAD, so the token authenticates
// the binding. The current version is the highest on the token: it is
// durable once C_GenerateKey returns, with no second record to keep in step.
// The token is shared by every server of a store: a version this process
// does not know is looked up on the token before WrapWith/Unwrap fail, and
// the key list (so the current version) is re-read at most once a second, so
// a rotation through one server reaches the others within a second.
// Safe for concurrent use: each operation borrows a session of its own.
//
// Failures, with stable reasons: UNAVAILABLE KMS_UNAVAILABLE (module will not
// load, token error), UNAVAILABLE KMS_TOKEN_NOT_FOUND, PERMISSION_DENIED
// KMS_PIN_INCORRECT / KMS_PIN_LOCKED, FAILED_PRECONDITION KMS_PIN_UNAVAILABLE
// / KMS_PIN_INSECURE / KMS_KEY_EXTRACTABLE, NOT_FOUND KMS_KEY_NOT_FOUND (no
// key version on the token), FAILED_PRECONDITION KMS_KEY_UNAVAILABLE (Unwrap
// with a version that is gone), DATA_LOSS KEY_UNWRAP_FAILED (blob or context
// altered).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "aifs/storage/kms.h"

namespace aifs {

struct Pkcs11Module;  // a loaded PKCS#11 library, shared by the process

struct Pkcs11Url {
  std::string token;
  std::string object = "aifs-kek";
  std::string module_path;
  std::string pin_source = "env:AIFS_PKCS11_PIN";
};

// INVALID_ARGUMENT BAD_KMS_URL (or KMS_PIN_IN_URL) when `url` is not one.
Result<Pkcs11Url> ParsePkcs11Url(std::string_view url);

class Pkcs11Kms : public Kms {
 public:
  // With `create`, a token without a key version gets version 1.
  static Result<std::unique_ptr<Pkcs11Kms>> Open(const std::string& url, bool create);
  ~Pkcs11Kms() override;

  std::string Kind() const override { return "pkcs11"; }
  std::string CurrentKeyId() const override;
  std::vector<KmsKeyInfo> ListKeys() const override;
  Result<WrappedKey> WrapWith(std::string_view key_id, const AesKey& data_key,
                              ByteSpan context) override;
  Result<AesKey> Unwrap(std::string_view key_id, ByteSpan blob, ByteSpan context) override;
  Result<std::string> Rotate() override;

  // Destroys a key version on the token: every data key it wraps becomes
  // unreadable. For retiring a version after `aifs key rewrap` moved all
  // data keys off it; the current version cannot be destroyed.
  Status DestroyKey(std::string_view key_id);

 private:
  class Session;
  friend class Session;
  struct KeyVersion {
    unsigned long handle;  // CK_OBJECT_HANDLE
    int64_t created_unix_ns;
  };

  Pkcs11Kms(Pkcs11Module* module, Pkcs11Url url) : module_(module), url_(std::move(url)) {}
  Status Login(const std::string& pin);  // finds the token's slot, then logs in
  Status LoadKeys();  // caller holds mu_ exclusively (or is Open)
  // LoadKeys() when a second has passed since the last; a failure keeps the
  // list known (the next operation on the token reports it).
  void ReloadIfDue() const;
  // One AES-GCM operation on the token with key `version`.
  Result<Bytes> Gcm(bool encrypt, uint32_t version, ByteSpan iv, ByteSpan aad, ByteSpan input);
  Result<uint32_t> VersionOf(std::string_view key_id) const;
  std::string KeyId(uint32_t version) const;
  std::string Label(uint32_t version) const { return url_.object + "-v" + std::to_string(version); }
  Result<unsigned long> Generate(uint32_t version);  // caller holds mu_ exclusively
  // The handle of a version, looked up again when the cached one went stale.
  Result<unsigned long> Handle(uint32_t version, bool refresh);

  Pkcs11Module* const module_;  // initialised while any Pkcs11Kms uses it
  unsigned long slot_ = 0;
  bool logged_in_ = false;  // holds a share of the process's login to slot_
  const Pkcs11Url url_;

  std::mutex sessions_mu_;
  std::vector<unsigned long> idle_sessions_;

  mutable std::shared_mutex mu_;
  std::map<uint32_t, KeyVersion> keys_;  // the last is current
  std::chrono::steady_clock::time_point loaded_at_{};
};

}  // namespace aifs
