// Ed25519 (RFC 8032) signing keys, via libsodium. A namespace's key signs its
// snapshot roots; the 32-byte seed is kept wrapped by the KMS, never in clear.
#pragma once

#include <array>

#include "aifs/core/bytes.h"
#include "aifs/core/status.h"
#include "aifs/storage/kms.h"

namespace aifs {

using Ed25519PublicKey = std::array<uint8_t, 32>;
using Ed25519Signature = std::array<uint8_t, 64>;

class SigningKey {
 public:
  ~SigningKey();
  SigningKey(SigningKey&&) noexcept;
  SigningKey& operator=(SigningKey&&) = delete;
  SigningKey(const SigningKey&) = delete;

  static Result<SigningKey> Generate();
  static Result<SigningKey> FromSeed(const std::array<uint8_t, 32>& seed);

  const Ed25519PublicKey& public_key() const { return public_; }
  Ed25519Signature Sign(ByteSpan message) const;

  // The seed wrapped by `kms` under `context` (see Kms::Wrap), and back.
  Result<WrappedKey> Wrap(Kms& kms, ByteSpan context) const;
  static Result<SigningKey> Unwrap(Kms& kms, const std::string& key_id, ByteSpan blob,
                                   ByteSpan context);

 private:
  SigningKey() = default;
  std::array<uint8_t, 32> seed_{};
  std::array<uint8_t, 64> secret_{};  // libsodium's seed ‖ public key form
  Ed25519PublicKey public_{};
};

// True when `signature` is a valid Ed25519 signature of `message` by `key`.
bool VerifyEd25519(const Ed25519PublicKey& key, ByteSpan message,
                   const Ed25519Signature& signature);

}  // namespace aifs
