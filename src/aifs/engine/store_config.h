// The store's configuration file (aifs.json in the data directory): where its
// backends are and how it chunks and compresses. Internal to the engine.
#pragma once

#include <string>

#include "aifs/core/status.h"
#include "aifs/store/v1/records.pb.h"

namespace aifs {

// 2: asset metadata, vectors and index files are sealed with record keys.
// 3: chunks are sealed in segments, asset chunk lists live in ci/ tables
// 4: segments may be byte-grouped (bits 29-30 of a segment table entry)
// 5: small chunks may live in packs (ChunkRecord.pack_offset)
// (docs/storage-format.md, "Format versions"). Older stores still open; a
// writable open marks them 5.
inline constexpr uint32_t kStoreFormatVersion = 5;
inline constexpr uint32_t kByteGroupingFormatVersion = 4;
inline constexpr uint32_t kPackFormatVersion = 5;
inline constexpr uint32_t kOldestStoreFormatVersion = 1;

std::string StoreConfigPath(const std::string& data_dir);

// A new store identity: 16 random bytes as 32 lowercase hex.
Result<std::string> NewStoreId();

// "scheme://rel/path" -> "scheme://<data_dir>/rel/path" for the local
// schemes (file://, rocksdb://, local://); absolute paths and every other
// URL (postgresql://, rados://, s3://, pkcs11:) stay as they are.
std::string ResolveStoreUrl(const std::string& url, const std::string& data_dir);

// FAILED_PRECONDITION STORE_NOT_INITIALIZED without a config; DATA_LOSS
// CONFIG_CORRUPT when unreadable; FAILED_PRECONDITION UNSUPPORTED_FORMAT for
// a format version outside [kOldestStoreFormatVersion, kStoreFormatVersion].
Result<store::v1::StoreConfig> LoadStoreConfig(const std::string& data_dir);

// The store's segment size: its config's, or kDefaultSegmentSize for a store
// from before segments (formats 1-2, which a read-only open leaves as they are).
uint32_t SegmentSizeOf(const store::v1::StoreConfig& config);

// Writes the config atomically (mode 0600).
Status WriteStoreConfig(const std::string& data_dir, const store::v1::StoreConfig& config);

}  // namespace aifs
