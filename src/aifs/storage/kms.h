// Kms: wraps and unwraps per-chunk data keys (envelope encryption).
//
// Promise: Wrap() uses the current key version (WrapWith() a named one, for
// namespaces pinned to a key) and returns its key ID; that
// ID, stored beside the wrapped key, is all Unwrap() needs, so chunks written
// before a Rotate() stay readable. The `context` is authenticated: a wrapped
// key only unwraps with the context it was wrapped with. Failures are errors,
// never a wrong key.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "aifs/core/status.h"
#include "aifs/storage/aead.h"

namespace aifs {

struct WrappedKey {
  std::string key_id;
  Bytes blob;
};

struct KmsKeyInfo {
  std::string key_id;
  int64_t created_unix_ns = 0;
  bool current = false;
};

class Kms {
 public:
  virtual ~Kms() = default;

  virtual std::string Kind() const = 0;
  virtual std::string CurrentKeyId() const = 0;
  virtual std::vector<KmsKeyInfo> ListKeys() const = 0;

  // NOT_FOUND KMS_KEY_NOT_FOUND when `key_id` is not a key of this KMS.
  virtual Result<WrappedKey> WrapWith(std::string_view key_id, const AesKey& data_key,
                                      ByteSpan context) = 0;
  Result<WrappedKey> Wrap(const AesKey& data_key, ByteSpan context) {
    return WrapWith(CurrentKeyId(), data_key, context);
  }
  virtual Result<AesKey> Unwrap(std::string_view key_id, ByteSpan blob, ByteSpan context) = 0;
  // The same data key, unwrapped from `blob` (wrapped by `from_key_id`) and
  // wrapped again by `to_key_id` under the same context: how data keys move
  // to a new key version without touching the data they encrypt.
  Result<WrappedKey> Rewrap(std::string_view from_key_id, ByteSpan blob, ByteSpan context,
                            std::string_view to_key_id);

  // Makes a new key version current and returns its ID. Durable on return.
  virtual Result<std::string> Rotate() = 0;
};

// Opens a KMS by URL. `local:///abs/path/keyfile` is the built-in keyfile KMS;
// with `create`, a missing keyfile is created with a first key version.
// `pkcs11:token=...` is a key on a PKCS#11 token (see kms/pkcs11_kms.h); with
// `create`, a token without a key version gets one. docs/kms.md has both.
Result<std::unique_ptr<Kms>> OpenKms(const std::string& url, bool create);

// The AAD every backend binds a wrapped data key to: a domain, the key ID
// (a blob cannot be passed off as another version's) and the caller's context.
Bytes KmsWrapAad(std::string_view key_id, ByteSpan context);

}  // namespace aifs
