// AES-256-GCM (OpenSSL EVP): the cipher for chunks and for wrapped keys.
// Sealed output is ciphertext followed by the 16-byte tag.
#pragma once

#include <array>

#include "aifs/core/bytes.h"
#include "aifs/core/status.h"

namespace aifs {

using AesKey = std::array<uint8_t, 32>;
using GcmNonce = std::array<uint8_t, 12>;
inline constexpr size_t kGcmTagSize = 16;

// Appends ciphertext||tag of `plaintext` to `out`.
Status AesGcmSeal(const AesKey& key, const GcmNonce& nonce, ByteSpan aad, ByteSpan plaintext,
                  Bytes& out);

// Decrypts ciphertext||tag into `out`; a wrong key, nonce, AAD or any flipped
// bit is DATA_LOSS with reason `fail_reason`, and `out` is cleared.
Status AesGcmOpen(const AesKey& key, const GcmNonce& nonce, ByteSpan aad, ByteSpan sealed,
                  Bytes& out, const char* fail_reason = "DECRYPT_FAILED");
// The same into `out`, which has room for sealed.size() - 16 bytes (wiped on
// failure). Each thread keeps the key schedule of the last key it opened
// with, so many small values under one key cost little each.
Status AesGcmOpenTo(const AesKey& key, const GcmNonce& nonce, ByteSpan aad, ByteSpan sealed,
                    uint8_t* out, const char* fail_reason = "DECRYPT_FAILED");

}  // namespace aifs
