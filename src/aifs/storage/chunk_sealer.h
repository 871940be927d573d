// Sealing: how one plaintext chunk becomes a stored object and back.
//
// seal:  cut into segments (SealPolicy::segment_size of plaintext each, the
//        last shorter) -> per segment zstd, of the bytes as they are or
//        byte-grouped (byte_grouping.h), whichever is smaller, when a trial
//        on the chunk says it pays and the segment saves enough ->
//        AES-256-GCM under the chunk's fresh
//        random data key -> data key wrapped by the KMS (key ID kept in the
//        record). The object is the sealed segments one after another; the
//        record's segment table says where each one is.
// open:  unwrap -> per segment decrypt/authenticate -> decompress ->
//        ungroup; a whole
//        chunk is also checked against its BLAKE3 hash.
// The namespace, chunk hash, plaintext size, segment size and count are bound
// into every segment's AAD and the key wrap, with the segment's index and
// encoding flags (zstd, grouping width), so segments cannot be moved to another chunk or
// namespace, swapped, reordered, dropped or re-flagged without failing.
// Chunks sealed whole (formats 1-2, segment_size 0 in the record) still open:
// they read as one segment that is the whole chunk.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "aifs/core/blake3.h"
#include "aifs/storage/aead.h"
#include "aifs/storage/compression.h"
#include "aifs/storage/kms.h"
#include "aifs/store/v1/records.pb.h"

namespace aifs {

// Plaintext bytes per segment of new chunks unless the store says otherwise
// (docs/storage-format.md explains the measurement behind it).
inline constexpr uint32_t kDefaultSegmentSize = 64 * 1024;
inline constexpr uint32_t kMinSegmentSize = 4 * 1024;
inline constexpr uint32_t kMaxSegmentSize = 16 * 1024 * 1024;

// INVALID_ARGUMENT BAD_SEGMENT_SIZE unless kMinSegmentSize <= size <=
// kMaxSegmentSize.
Status ValidateSegmentSize(uint64_t size);

// How new chunks of a namespace are sealed.
struct SealPolicy {
  SealPolicy(CompressionPolicy c = {}, std::string key = {})  // NOLINT: a compression alone
      : compression(c), kms_key_id(std::move(key)) {}
  CompressionPolicy compression;
  std::string kms_key_id;                       // empty: the KMS's current key
  uint32_t segment_size = kDefaultSegmentSize;  // 0: sealed whole (format 2, for tests)
  // kNoGrouping; 2 or 4 (a tensor's element size); kGroupingTrial (a blob):
  // what PlanCompression (compression.h) may try. Segments sealed whole are
  // never grouped. Only stores of format 4 hold grouped segments.
  uint32_t byte_grouping = kNoGrouping;
};

// Fills `object` and every ChunkRecord field except `object` and `refcount`.
Status SealChunk(Kms& kms, std::string_view ns, const Digest& hash, ByteSpan plain,
                 const SealPolicy& policy, Bytes& object, store::v1::ChunkRecord& rec);

// A chunk whose data key is unwrapped, ready to open its segments. Holds the
// key in memory (wiped when destroyed). Const methods are thread-safe.
class ChunkOpener {
 public:
  // DATA_LOSS METADATA_CORRUPT when the record's segment fields do not fit
  // its sizes; DATA_LOSS CHUNK_CORRUPT when the wrapped key fails to
  // authenticate; FAILED_PRECONDITION KMS_KEY_UNAVAILABLE when its key is gone.
  static Result<ChunkOpener> Open(Kms& kms, std::string_view ns, const Digest& hash,
                                  const store::v1::ChunkRecord& rec);
  ~ChunkOpener();
  ChunkOpener(ChunkOpener&& other) noexcept;
  ChunkOpener& operator=(ChunkOpener&&) = delete;
  ChunkOpener(const ChunkOpener&) = delete;

  // A segment table entry (little-endian u32): the stored length in bits
  // 0-28, the byte grouping code in bits 29-30 (0 none, 1 width 2, 2 width
  // 4), bit 31 set when the segment is zstd-compressed.
  static constexpr uint32_t kZstdFlag = 0x80000000u;
  static constexpr uint32_t kGroupingShift = 29;
  static constexpr uint32_t kLengthMask = (1u << kGroupingShift) - 1;

  struct Span {
    uint64_t offset;
    uint64_t length;
  };
  size_t segment_count() const { return stored_.size(); }
  // Plaintext bytes per segment (the last may be shorter); a chunk sealed
  // whole is one segment of its full size.
  uint64_t segment_size() const { return segment_size_; }
  uint64_t plain_size() const { return plain_size_; }
  // Where segment i's stored bytes are in the object. i < segment_count().
  Span Location(size_t i) const { return {starts_[i], stored_[i] & kLengthMask}; }
  // Plaintext bytes [i * segment_size(), ...) the segment holds.
  uint64_t PlainLength(size_t i) const;

  // Authenticates, decrypts and decompresses segment i from its stored bytes
  // into `plain` (resized to PlainLength(i)). DATA_LOSS CHUNK_CORRUPT when
  // anything was altered; `plain` is then cleared. A chunk sealed whole is
  // also checked against its hash (it is the whole chunk).
  Status OpenSegment(size_t i, ByteSpan stored, Bytes& plain) const;

  // OpenSegment of a segmented chunk's segment i straight into `out`
  // (exactly PlainLength(i) bytes, which the caller owns), without a copy
  // unless it is byte-grouped; `scratch` holds its compressed bytes. `out` is
  // wiped on failure. INTERNAL for a chunk sealed whole or a wrong `out` size.
  Status OpenSegmentTo(size_t i, ByteSpan stored, std::span<uint8_t> out, Bytes& scratch) const;

  // Whether segment i can be handed on as it is stored once decrypted
  // (OpenInPlace): a segment of a segmented chunk that is not byte-grouped,
  // so its decrypted bytes are its plaintext or, when IsCompressed(i), one
  // zstd frame of it.
  bool OpensInPlace(size_t i) const;
  bool IsCompressed(size_t i) const { return whole_ ? whole_zstd_ : (stored_[i] & kZstdFlag) != 0; }
  // Authenticates and decrypts segment i (OpensInPlace(i) must hold) where
  // its stored bytes are, and returns the first stored.size() - 16 of them:
  // the plaintext, or one zstd frame that expands to PlainLength(i) bytes.
  // DATA_LOSS CHUNK_CORRUPT as OpenSegment (`stored` is then wiped).
  Result<ByteSpan> OpenInPlace(size_t i, std::span<uint8_t> stored) const;

  // The whole chunk from its whole object: every segment, then BLAKE3.
  Status OpenAll(ByteSpan object, Bytes& plain) const;

 private:
  ChunkOpener() = default;
  uint32_t GroupingCode(size_t i) const;  // 0 for none (and for a chunk sealed whole)
  // Authenticates and decrypts segment i of a segmented chunk into `out`
  // (room for stored.size() - 16 bytes; stored.data() itself decrypts in
  // place). Errors unwrapped (the callers say CHUNK_CORRUPT).
  Status DecryptSegment(size_t i, ByteSpan stored, uint8_t* out) const;
  // Authenticates, decrypts and decompresses segment i into `out`, without
  // ungrouping. Errors unwrapped (the callers say CHUNK_CORRUPT).
  Status DecodeSegment(size_t i, ByteSpan stored, std::span<uint8_t> out, Bytes& scratch) const;
  // OpenSegment of a chunk sealed whole.
  Status OpenWhole(ByteSpan stored, Bytes& plain) const;

  AesKey key_{};
  GcmNonce nonce_{};
  Bytes aad_;  // the chunk's AAD prefix (segmented) or whole AAD (sealed whole)
  Digest hash_{};
  bool whole_ = false;
  bool whole_zstd_ = false;
  uint64_t plain_size_ = 0;
  uint64_t segment_size_ = 0;
  std::vector<uint32_t> stored_;  // per segment: the table entry
  std::vector<uint64_t> starts_;
};

// Opens a whole chunk from its whole object (ChunkOpener::Open + OpenAll).
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
