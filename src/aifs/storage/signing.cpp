#include "aifs/storage/signing.h"

#include <sodium.h>

#include <cstring>

#include "aifs/core/random.h"

namespace aifs {

namespace {
Status SodiumReady() {
  static const int rc = sodium_init();
  if (rc < 0) return err::Internal("CRYPTO_INIT_FAILED", "libsodium failed to initialise");
  return Status::Ok();
}
}  // namespace

SigningKey::~SigningKey() {
  SecureWipe(seed_.data(), seed_.size());
  SecureWipe(secret_.data(), secret_.size());
}

SigningKey::SigningKey(SigningKey&& other) noexcept
    : seed_(other.seed_), secret_(other.secret_), public_(other.public_) {
  SecureWipe(other.seed_.data(), other.seed_.size());
  SecureWipe(other.secret_.data(), other.secret_.size());
}

Result<SigningKey> SigningKey::FromSeed(const std::array<uint8_t, 32>& seed) {
  AIFS_RETURN_IF_ERROR(SodiumReady());
  SigningKey key;
  key.seed_ = seed;
  if (crypto_sign_seed_keypair(key.public_.data(), key.secret_.data(), seed.data()) != 0)
    return err::Internal("KEYGEN_FAILED", "Ed25519 key derivation failed");
  return key;
}

Result<SigningKey> SigningKey::Generate() {
  std::array<uint8_t, 32> seed;
  AIFS_RETURN_IF_ERROR(SecureRandom(seed));
  auto key = FromSeed(seed);
  SecureWipe(seed.data(), seed.size());
  return key;
}

Ed25519Signature SigningKey::Sign(ByteSpan message) const {
  Ed25519Signature sig;
  crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), secret_.data());
  return sig;
}

Result<WrappedKey> SigningKey::Wrap(Kms& kms, ByteSpan context) const {
  AesKey as_key;
  std::memcpy(as_key.data(), seed_.data(), as_key.size());
  auto wrapped = kms.Wrap(as_key, context);
  SecureWipe(as_key.data(), as_key.size());
  return wrapped;
}

Result<SigningKey> SigningKey::Unwrap(Kms& kms, const std::string& key_id, ByteSpan blob,
                                      ByteSpan context) {
  AIFS_ASSIGN_OR_RETURN(AesKey seed, kms.Unwrap(key_id, blob, context));
  std::array<uint8_t, 32> s;
  std::memcpy(s.data(), seed.data(), s.size());
  SecureWipe(seed.data(), seed.size());
  auto key = FromSeed(s);
  SecureWipe(s.data(), s.size());
  return key;
}

bool VerifyEd25519(const Ed25519PublicKey& key, ByteSpan message,
                   const Ed25519Signature& signature) {
  if (!SodiumReady().ok()) return false;
  return crypto_sign_verify_detached(signature.data(), message.data(), message.size(),
                                     key.data()) == 0;
}

}  // namespace aifs
