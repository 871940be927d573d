// RecordKeys: the per-namespace record keys that seal what metadata records
// and derived files would otherwise hold in clear (asset metadata, embedding
// vectors, the vector index checkpoints), and the sealing of those fields.
//
// Promise: every namespace has at most one record key, a random AES-256 key
// wrapped by the KMS (like chunks' data keys, so `aifs key rotate` applies
// to it and `aifs key rewrap` moves it) and kept in the namespace record, so
// it works the same on any MetaStore backend. Sealed values name their key
// by a tag; a reader unwraps a key once and keeps it in memory (never on
// disk). Values written before record keys existed (plaintext) still read;
// every new write is sealed. Thread-safe.
#pragma once

#include <shared_mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "aifs/api/types.h"
#include "aifs/meta/meta_store.h"
#include "aifs/storage/kms.h"
#include "aifs/storage/sealed_value.h"
#include "aifs/store/v1/records.pb.h"

namespace aifs {

class RecordKeys {
 public:
  RecordKeys(MetaStore& meta, Kms& kms);
  ~RecordKeys();
  RecordKeys(const RecordKeys&) = delete;
  RecordKeys& operator=(const RecordKeys&) = delete;

  // Gives `rec` (a namespace being created, or one from before record keys)
  // a fresh key wrapped by its pinned KMS key or the current one; the caller
  // writes the record in its transaction. KMS errors as Kms::Wrap.
  Status AddTo(store::v1::NamespaceRecord& rec);

  // The key of a namespace record; if it has none, first AddTo (the caller
  // then must write the record, as a put's commit does). KMS errors of
  // unwrapping (KMS_KEY_UNAVAILABLE, KEY_UNWRAP_FAILED ...) name the namespace.
  Result<RecordKey> Of(store::v1::NamespaceRecord& rec, bool* added = nullptr);

  // The key of namespace `ns` for a write outside a put's commit: a
  // namespace without one gets it in a transaction of its own.
  // NOT_FOUND NAMESPACE_NOT_FOUND; READ_ONLY errors of the store.
  Result<RecordKey> ForWrite(const std::string& ns);

  // The key named `tag` of namespace `ns` (cached, else from its record).
  // DATA_LOSS RECORD_KEY_MISSING when the namespace has no such key.
  Result<RecordKey> ForRead(const std::string& ns, const KeyTag& tag);

  // Moves the record key of `rec` to KMS key `target` (same AES key, new
  // wrapping). Returns whether the record changed.
  Result<bool> Rewrap(store::v1::NamespaceRecord& rec, const std::string& target);

 private:
  Result<RecordKey> Unwrap(const store::v1::NamespaceRecord& rec);
  static std::string CacheKey(std::string_view ns, const KeyTag& tag);

  MetaStore& meta_;
  Kms& kms_;
  const uint64_t serial_;  // unique per instance: keys thread-local memos
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, AesKey> cache_;  // ns 0x00 tag -> key
};

// The KMS context a namespace's record key is wrapped with.
Bytes RecordKeyContext(std::string_view ns, ByteSpan tag);

// Asset records: `metadata` moves into `sealed` (nothing to do when there is
// no metadata), and back. OpenAssetRecord leaves a record without `sealed`
// (written before sealing) as it is; DATA_LOSS METADATA_CORRUPT when the
// sealed fields do not open (changed bytes, another asset's), the key's own
// errors when its key does not unwrap.
Status SealAssetRecord(const RecordKey& key, store::v1::AssetRecord& rec);
Status OpenAssetRecord(RecordKeys& keys, store::v1::AssetRecord& rec);

// A stored vector (vc/, vq/): sealed float32 little-endian. OpenVector also
// reads the bare floats of stores from before sealing. DATA_LOSS
// VECTOR_CORRUPT when the value has the wrong size or does not open.
Result<std::string> SealVector(const RecordKey& key, std::string_view ns, std::string_view space,
                               const AssetId& id, std::span<const float> v);
Result<std::vector<float>> OpenVector(RecordKeys& keys, std::string_view ns, std::string_view space,
                                      const AssetId& id, std::string_view stored, uint32_t dim);

// The context of a vector index checkpoint file of (ns, space).
Bytes IndexFileContext(std::string_view ns, std::string_view space);

}  // namespace aifs
