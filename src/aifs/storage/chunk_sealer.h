// Sealing: how one plaintext chunk becomes a stored object and back.
//
// seal:  zstd (when it pays) -> AES-256-GCM under a fresh random data key ->
//        data key wrapped by the KMS (key ID kept in the record).
// open:  unwrap -> decrypt/authenticate -> decompress -> BLAKE3 == hash.
// The namespace, chunk hash, compression and size are bound as AAD, so an
// object moved to another chunk record or namespace fails to open.
#pragma once

#include <string>
#include <string_view>

#include "aifs/core/blake3.h"
#include "aifs/storage/compression.h"
#include "aifs/storage/kms.h"
#include "aifs/store/v1/records.pb.h"

namespace aifs {

// How new chunks of a namespace are sealed.
struct SealPolicy {
  SealPolicy(CompressionPolicy c = {}, std::string key = {})  // NOLINT: a compression alone
      : compression(c), kms_key_id(std::move(key)) {}
  CompressionPolicy compression;
  std::string kms_key_id;  // empty: the KMS's current key
};

// Fills `object` and every ChunkRecord field except `object` and `refcount`.
Status SealChunk(Kms& kms, std::string_view ns, const Digest& hash, ByteSpan plain,
                 const SealPolicy& policy, Bytes& object, store::v1::ChunkRecord& rec);

// DATA_LOSS CHUNK_CORRUPT when the object was altered or does not hash to
// `hash`; FAILED_PRECONDITION KMS_KEY_UNAVAILABLE when its key is gone.
Status OpenChunk(Kms& kms, std::string_view ns, const Digest& hash,
                 const store::v1::ChunkRecord& rec, ByteSpan object, Bytes& plain);

// Moves the chunk's data key to KMS key `key_id`: only `kms_key_id` and
// `wrapped_key` change. The data key itself does not, so the stored object
// and its nonce stay valid untouched. Errors as OpenChunk's unwrap.
Status RewrapChunkKey(Kms& kms, std::string_view ns, const Digest& hash, std::string_view key_id,
                      store::v1::ChunkRecord& rec);

// The chunk's data key in clear: for tests that look for it where it must
// never be (files, logs).
Result<AesKey> UnwrapChunkKey(Kms& kms, std::string_view ns, const Digest& hash,
                              const store::v1::ChunkRecord& rec);

}  // namespace aifs
