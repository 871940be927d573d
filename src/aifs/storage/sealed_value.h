// SealedValue: a small value (a field of a metadata record) encrypted and
// authenticated with AES-256-GCM under a record key, so that what a
// MetaStore backend keeps (RocksDB files, PostgreSQL rows, backups) holds no
// plaintext of it, whatever the backend.
//
// Layout (docs/storage-format.md, "Sealed fields"):
//   0x01 (format) | key tag (8 bytes) | nonce (12) | ciphertext | GCM tag (16)
// AAD = "aifs/sealed-value/v1" 0x00 | format | key tag | context.
// The context names where the value belongs (its namespace, asset, space):
// a sealed value copied to another record does not open. The key tag names
// the record key, so a reader finds it without trying keys. Nonces are
// random (96 bits): at most 2^32 seals per record key.
//
// Thread-safe (pure functions).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "aifs/core/bytes.h"
#include "aifs/core/status.h"
#include "aifs/storage/aead.h"

namespace aifs {

using KeyTag = std::array<uint8_t, 8>;

// A record key: the AES key and the tag that names it.
struct RecordKey {
  KeyTag tag{};
  AesKey key{};
};

inline constexpr uint8_t kSealedValueFormat = 0x01;
inline constexpr size_t kSealedValueOverhead = 1 + 8 + 12 + kGcmTagSize;

// Appends the sealed form of `plaintext` to `out`. INTERNAL ENCRYPT_FAILED
// only if the cipher itself fails.
Status SealValue(const RecordKey& key, ByteSpan context, ByteSpan plaintext, std::string& out);

// The key tag of a sealed value; nullopt when `sealed` is too short or not
// of a format this build knows.
std::optional<KeyTag> SealedValueTag(std::string_view sealed);

// Opens a sealed value into `out`. A wrong key, another context or any
// changed byte is DATA_LOSS with `fail_reason`; `out` is then empty.
Status OpenValue(const RecordKey& key, ByteSpan context, std::string_view sealed, std::string& out,
                 const char* fail_reason = "METADATA_CORRUPT");

}  // namespace aifs
