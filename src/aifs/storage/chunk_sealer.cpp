#include "aifs/storage/chunk_sealer.h"

#include <algorithm>
#include <cstring>

#include "aifs/core/random.h"
#include "aifs/storage/byte_grouping.h"

namespace aifs {

namespace {

void PutLe(Bytes& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

Bytes AadPrefix(std::string_view domain, std::string_view ns, const Digest& hash) {
  Bytes aad(domain.begin(), domain.end());
  aad.push_back(0);
  aad.insert(aad.end(), ns.begin(), ns.end());
  aad.push_back(0);
  aad.insert(aad.end(), hash.begin(), hash.end());
  return aad;
}

// Formats 1-2: a chunk sealed whole.
Bytes ChunkAad(std::string_view ns, const Digest& hash, store::v1::Compression compression,
               uint64_t plain_size) {
  Bytes aad = AadPrefix("aifs/chunk/v1", ns, hash);
  aad.push_back(static_cast<uint8_t>(compression));
  PutLe(aad, plain_size, 8);
  return aad;
}

uint64_t SegmentCount(uint64_t plain_size, uint64_t segment_size) {
  return plain_size == 0 ? 1 : (plain_size + segment_size - 1) / segment_size;
}

// Format 3: what binds a segmented chunk (the key wrap's context and every
// segment's AAD prefix).
Bytes SegmentedAad(std::string_view ns, const Digest& hash, uint64_t plain_size,
                   uint32_t segment_size) {
  Bytes aad = AadPrefix("aifs/chunk/v2", ns, hash);
  PutLe(aad, plain_size, 8);
  PutLe(aad, segment_size, 4);
  PutLe(aad, SegmentCount(plain_size, segment_size), 4);
  return aad;
}

Bytes WrapContext(std::string_view ns, const Digest& hash, const store::v1::ChunkRecord& rec) {
  return rec.segment_size() == 0 ? ChunkAad(ns, hash, rec.compression(), rec.plain_size())
                                 : SegmentedAad(ns, hash, rec.plain_size(), rec.segment_size());
}

// A segment's encoding: zstd or not, and the byte grouping width (0: none).
// In the segment table entry: zstd in bit 31, the grouping code (1: width 2,
// 2: width 4; 3 is no known width) in bits 29-30. In the AAD: one flag byte,
// zstd in bit 0 and the grouping code in bits 1-2, so segments of format 3
// (0 or 1) authenticate as they always did.
struct SegmentEncoding {
  bool zstd = false;
  uint32_t group_width = 0;
};
constexpr uint32_t kGroupingCodeMask = 3;

uint32_t GroupingCode(uint32_t width) { return width == 2 ? 1 : width == 4 ? 2 : 0; }
uint32_t GroupingWidth(uint32_t code) { return code == 1 ? 2 : code == 2 ? 4 : 0; }

uint8_t FlagByte(uint32_t zstd, uint32_t grouping_code) {
  return static_cast<uint8_t>(zstd | grouping_code << 1);
}

// Segment i's AAD and nonce: the chunk's prefix with the index and the
// encoding's flag byte; the base nonce with its last four bytes XORed with i
// (the data key is the chunk's own, so nonces never repeat under a key).
void SegmentAadAndNonce(const Bytes& prefix, const GcmNonce& base, size_t i, uint8_t flags,
                        Bytes& aad, GcmNonce& nonce) {
  aad = prefix;
  PutLe(aad, i, 4);
  aad.push_back(flags);
  nonce = base;
  for (int b = 0; b < 4; ++b) nonce[11 - b] ^= static_cast<uint8_t>(i >> (8 * b));
}

Status Corrupt(const Status& cause) {
  return err::DataLoss("CHUNK_CORRUPT", "stored chunk failed verification: " + cause.message());
}

Status HashMismatch() {
  return err::DataLoss("CHUNK_CORRUPT", "chunk content does not match its BLAKE3 hash");
}

Status SealWhole(const AesKey& data_key, const GcmNonce& nonce, std::string_view ns,
                 const Digest& hash, ByteSpan plain, const SealPolicy& policy, Bytes& object,
                 store::v1::ChunkRecord& rec, Bytes& aad) {
  Bytes compressed;
  const bool use_zstd = MaybeCompress(plain, policy.compression, compressed);
  const auto compression = use_zstd ? store::v1::COMPRESSION_ZSTD : store::v1::COMPRESSION_NONE;
  aad = ChunkAad(ns, hash, compression, plain.size());
  object.reserve(plain.size() + kGcmTagSize);
  rec.set_compression(compression);
  return AesGcmSeal(data_key, nonce, aad, use_zstd ? ByteSpan(compressed) : plain, object);
}

// Reused from one segment to the next.
struct SegmentBuffers {
  Bytes compressed;  // zstd of the segment
  Bytes planes;      // the segment grouped
  Bytes grouped;     // zstd of the planes
};

// Compresses one segment as `plan` says; `body` is what gets sealed: `piece`
// itself or one of the buffers.
SegmentEncoding EncodeSegment(ByteSpan piece, const CompressionPlan& plan,
                              const CompressionPolicy& policy, SegmentBuffers& buf,
                              ByteSpan& body) {
  SegmentEncoding enc;
  body = piece;
  if (plan.zstd && MaybeCompress(piece, policy, buf.compressed)) {
    enc.zstd = true;
    body = buf.compressed;
  }
  if (plan.group_width != 0) {
    GroupBytes(piece, plan.group_width, buf.planes);
    if (MaybeCompressGrouped(buf.planes, plan.group_width, policy, buf.grouped) &&
        (!enc.zstd || buf.grouped.size() < body.size())) {
      enc = {.zstd = true, .group_width = plan.group_width};
      body = buf.grouped;
    }
  }
  return enc;
}

Status SealSegments(const AesKey& data_key, const GcmNonce& nonce, std::string_view ns,
                    const Digest& hash, ByteSpan plain, const SealPolicy& policy, Bytes& object,
                    store::v1::ChunkRecord& rec, Bytes& aad) {
  const uint32_t seg = policy.segment_size;
  aad = SegmentedAad(ns, hash, plain.size(), seg);
  const uint64_t count = SegmentCount(plain.size(), seg);
  const CompressionPlan plan = PlanCompression(plain, policy.compression, policy.byte_grouping);
  std::string table;
  table.reserve(4 * count);
  object.reserve(plain.size() + count * kGcmTagSize);
  SegmentBuffers buffers;
  Bytes seg_aad;
  GcmNonce seg_nonce;
  bool any_zstd = false;
  for (uint64_t i = 0; i < count; ++i) {
    const ByteSpan piece = plain.subspan(i * seg, std::min<uint64_t>(seg, plain.size() - i * seg));
    ByteSpan body;
    const SegmentEncoding enc = EncodeSegment(piece, plan, policy.compression, buffers, body);
    any_zstd |= enc.zstd;
    const uint32_t code = GroupingCode(enc.group_width);
    SegmentAadAndNonce(aad, nonce, i, FlagByte(enc.zstd, code), seg_aad, seg_nonce);
    const size_t before = object.size();
    AIFS_RETURN_IF_ERROR(AesGcmSeal(data_key, seg_nonce, seg_aad, body, object));
    const uint32_t entry = static_cast<uint32_t>(object.size() - before) |
                           code << ChunkOpener::kGroupingShift |
                           (enc.zstd ? ChunkOpener::kZstdFlag : 0);
    for (int b = 0; b < 4; ++b) table.push_back(static_cast<char>(entry >> (8 * b)));
  }
  rec.set_compression(any_zstd ? store::v1::COMPRESSION_ZSTD : store::v1::COMPRESSION_NONE);
  rec.set_segment_size(seg);
  rec.set_segment_table(std::move(table));
  return Status::Ok();
}

}  // namespace

Status ValidateSegmentSize(uint64_t size) {
  if (size >= kMinSegmentSize && size <= kMaxSegmentSize) return Status::Ok();
  return err::InvalidArgument("BAD_SEGMENT_SIZE", "segment size " + std::to_string(size) +
                                                      " is outside [4 KiB, 16 MiB]");
}

Status SealChunk(Kms& kms, std::string_view ns, const Digest& hash, ByteSpan plain,
                 const SealPolicy& policy, Bytes& object, store::v1::ChunkRecord& rec) {
  if (policy.segment_size != 0) AIFS_RETURN_IF_ERROR(ValidateSegmentSize(policy.segment_size));
  AesKey data_key;
  GcmNonce nonce;
  AIFS_RETURN_IF_ERROR(SecureRandom(data_key));
  AIFS_RETURN_IF_ERROR(SecureRandom(nonce));
  object.clear();
  rec.clear_segment_size();
  rec.clear_segment_table();
  Bytes aad;
  Status st = policy.segment_size == 0
                  ? SealWhole(data_key, nonce, ns, hash, plain, policy, object, rec, aad)
                  : SealSegments(data_key, nonce, ns, hash, plain, policy, object, rec, aad);
  Result<WrappedKey> wrapped =
      !st.ok() ? Result<WrappedKey>(st)
      : policy.kms_key_id.empty() ? kms.Wrap(data_key, aad)
                                  : kms.WrapWith(policy.kms_key_id, data_key, aad);
  SecureWipe(data_key.data(), data_key.size());
  if (!wrapped.ok()) return wrapped.status();

  rec.set_plain_size(plain.size());
  rec.set_stored_size(object.size());
  rec.set_kms_key_id(wrapped->key_id);
  rec.set_wrapped_key(wrapped->blob.data(), wrapped->blob.size());
  rec.set_nonce(nonce.data(), nonce.size());
  return Status::Ok();
}

Result<AesKey> UnwrapChunkKey(Kms& kms, std::string_view ns, const Digest& hash,
                              const store::v1::ChunkRecord& rec) {
  const Bytes aad = WrapContext(ns, hash, rec);
  Result<AesKey> unwrapped = kms.Unwrap(rec.kms_key_id(), AsBytes(rec.wrapped_key()), aad);
  // A wrapped key that fails to authenticate was altered or moved.
  if (!unwrapped.ok() && unwrapped.status().code() == Code::kDataLoss)
    return Corrupt(unwrapped.status());
  return unwrapped;
}

Status RewrapChunkKey(Kms& kms, std::string_view ns, const Digest& hash, std::string_view key_id,
                      store::v1::ChunkRecord& rec) {
  const Bytes aad = WrapContext(ns, hash, rec);
  Result<WrappedKey> moved = kms.Rewrap(rec.kms_key_id(), AsBytes(rec.wrapped_key()), aad, key_id);
  if (!moved.ok())
    return moved.status().code() == Code::kDataLoss ? Corrupt(moved.status()) : moved.status();
  rec.set_kms_key_id(moved->key_id);
  rec.set_wrapped_key(moved->blob.data(), moved->blob.size());
  return Status::Ok();
}

Result<ChunkOpener> ChunkOpener::Open(Kms& kms, std::string_view ns, const Digest& hash,
                                      const store::v1::ChunkRecord& rec) {
  auto bad = [](const std::string& what) {
    return err::DataLoss("METADATA_CORRUPT", "chunk record " + what);
  };
  if (rec.nonce().size() != sizeof(GcmNonce)) return bad("has a bad nonce");
  ChunkOpener o;
  o.hash_ = hash;
  o.plain_size_ = rec.plain_size();
  std::memcpy(o.nonce_.data(), rec.nonce().data(), o.nonce_.size());
  if (rec.segment_size() == 0) {
    o.whole_ = true;
    o.whole_zstd_ = rec.compression() == store::v1::COMPRESSION_ZSTD;
    o.segment_size_ = rec.plain_size();
    if (rec.stored_size() > kLengthMask) return bad("has an object too large");
    o.stored_ = {static_cast<uint32_t>(rec.stored_size())};
    o.starts_ = {0};
    o.aad_ = ChunkAad(ns, hash, rec.compression(), rec.plain_size());
  } else {
    o.segment_size_ = rec.segment_size();
    const uint64_t count = SegmentCount(rec.plain_size(), rec.segment_size());
    if (rec.segment_size() < kMinSegmentSize || rec.segment_size() > kMaxSegmentSize ||
        rec.segment_table().size() != 4 * count)
      return bad("has a segment table that does not fit its size");
    o.stored_.resize(count);
    o.starts_.resize(count);
    uint64_t pos = 0;
    for (size_t i = 0; i < count; ++i) {
      uint32_t v = 0;
      for (int b = 0; b < 4; ++b)
        v |= static_cast<uint32_t>(static_cast<uint8_t>(rec.segment_table()[4 * i + b])) << (8 * b);
      o.stored_[i] = v;
      o.starts_[i] = pos;
      pos += v & kLengthMask;
    }
    if (pos != rec.stored_size()) return bad("segment lengths do not add up to the object size");
    o.aad_ = SegmentedAad(ns, hash, rec.plain_size(), rec.segment_size());
  }
  AIFS_ASSIGN_OR_RETURN(o.key_, UnwrapChunkKey(kms, ns, hash, rec));
  return o;
}

ChunkOpener::~ChunkOpener() { SecureWipe(key_.data(), key_.size()); }

ChunkOpener::ChunkOpener(ChunkOpener&& other) noexcept
    : key_(other.key_),
      nonce_(other.nonce_),
      aad_(std::move(other.aad_)),
      hash_(other.hash_),
      whole_(other.whole_),
      whole_zstd_(other.whole_zstd_),
      plain_size_(other.plain_size_),
      segment_size_(other.segment_size_),
      stored_(std::move(other.stored_)),
      starts_(std::move(other.starts_)) {
  SecureWipe(other.key_.data(), other.key_.size());
}

uint64_t ChunkOpener::PlainLength(size_t i) const {
  const uint64_t start = i * segment_size_;
  return std::min(segment_size_, plain_size_ - std::min(plain_size_, start));
}

Status ChunkOpener::OpenSegment(size_t i, ByteSpan stored, Bytes& plain) const {
  if (whole_) return OpenWhole(stored, plain);
  plain.resize(PlainLength(i));
  Bytes scratch;
  Status st = OpenSegmentTo(i, stored, plain, scratch);
  if (!st.ok()) plain.clear();
  return st;
}

// A chunk sealed whole (formats 1-2): one AES-GCM record of the whole chunk,
// zstd or not, checked against the chunk's hash.
Status ChunkOpener::OpenWhole(ByteSpan stored, Bytes& plain) const {
  Status st = AesGcmOpen(key_, nonce_, aad_, stored, plain);
  if (st.ok() && whole_zstd_) {
    Bytes decoded;
    st = Decompress(plain, plain_size_, decoded);
    plain.swap(decoded);
  }
  if (!st.ok()) {
    plain.clear();
    return Corrupt(st);
  }
  if (plain.size() != plain_size_) {
    plain.clear();
    return Corrupt(err::DataLoss("SIZE_MISMATCH", "segment has the wrong size"));
  }
  if (Blake3::Hash(plain) != hash_) {
    plain.clear();
    return HashMismatch();
  }
  return Status::Ok();
}

Status ChunkOpener::DecryptSegment(size_t i, ByteSpan stored, uint8_t* out) const {
  const bool zstd = IsCompressed(i);
  if (stored.size() < kGcmTagSize || (!zstd && stored.size() != PlainLength(i) + kGcmTagSize))
    return err::DataLoss("DECRYPT_FAILED", "segment has the wrong length");
  Bytes aad;
  GcmNonce nonce;
  SegmentAadAndNonce(aad_, nonce_, i, FlagByte(zstd, GroupingCode(i)), aad, nonce);
  return AesGcmOpenTo(key_, nonce, aad, stored, out);
}

Status ChunkOpener::DecodeSegment(size_t i, ByteSpan stored, std::span<uint8_t> out,
                                  Bytes& scratch) const {
  if (!IsCompressed(i)) return DecryptSegment(i, stored, out.data());
  scratch.resize(stored.size() > kGcmTagSize ? stored.size() - kGcmTagSize : 0);
  AIFS_RETURN_IF_ERROR(DecryptSegment(i, stored, scratch.data()));
  return DecompressTo(scratch, out);
}

uint32_t ChunkOpener::GroupingCode(size_t i) const {
  return whole_ ? 0 : (stored_[i] >> kGroupingShift) & kGroupingCodeMask;
}

bool ChunkOpener::OpensInPlace(size_t i) const { return !whole_ && GroupingCode(i) == 0; }

Result<ByteSpan> ChunkOpener::OpenInPlace(size_t i, std::span<uint8_t> stored) const {
  Status st = DecryptSegment(i, stored, stored.data());
  const ByteSpan out(stored.data(), st.ok() ? stored.size() - kGcmTagSize : 0);
  if (st.ok() && IsCompressed(i) && !IsFrameOf(out, PlainLength(i)))
    st = err::DataLoss("SIZE_MISMATCH", "segment is not one zstd frame of its size");
  if (!st.ok()) {
    SecureWipe(stored.data(), stored.size());
    return Corrupt(st);
  }
  return out;
}

Status ChunkOpener::OpenSegmentTo(size_t i, ByteSpan stored, std::span<uint8_t> out,
                                  Bytes& scratch) const {
  if (whole_ || i >= segment_count() || out.size() != PlainLength(i))
    return err::Internal("BAD_SEGMENT_CALL", "OpenSegmentTo: not a segment of this size");
  const uint32_t code = GroupingCode(i), width = GroupingWidth(code);
  Status st;
  if (code != 0 && width == 0) {
    st = err::DataLoss("BAD_GROUPING", "segment names an unknown byte grouping");
  } else if (width == 0) {
    st = DecodeSegment(i, stored, out, scratch);
  } else {
    // The sealer only groups compressed segments, but the flag byte vouches
    // for the grouping either way.
    Bytes grouped(out.size()), plain;
    st = DecodeSegment(i, stored, grouped, scratch);
    if (st.ok()) {
      UngroupBytes(grouped, width, plain);
      std::memcpy(out.data(), plain.data(), out.size());
    }
  }
  if (!st.ok()) {
    SecureWipe(out.data(), out.size());
    return Corrupt(st);
  }
  return Status::Ok();
}

Status ChunkOpener::OpenAll(ByteSpan object, Bytes& plain) const {
  if (whole_) return OpenSegment(0, object, plain);
  const uint64_t stored_total = starts_.back() + (stored_.back() & kLengthMask);
  if (object.size() != stored_total)
    return err::DataLoss("CHUNK_CORRUPT", "stored chunk has " + std::to_string(object.size()) +
                                              " bytes, its record says " +
                                              std::to_string(stored_total));
  plain.resize(plain_size_);
  Bytes scratch;
  for (size_t i = 0; i < stored_.size(); ++i) {
    const Span at = Location(i);
    const std::span<uint8_t> out(plain.data() + i * segment_size_, PlainLength(i));
    if (Status st = OpenSegmentTo(i, object.subspan(at.offset, at.length), out, scratch);
        !st.ok()) {
      plain.clear();
      return st;
    }
  }
  if (Blake3::Hash(plain) != hash_) return HashMismatch();
  return Status::Ok();
}

Status OpenChunk(Kms& kms, std::string_view ns, const Digest& hash,
                 const store::v1::ChunkRecord& rec, ByteSpan object, Bytes& plain) {
  AIFS_ASSIGN_OR_RETURN(ChunkOpener opener, ChunkOpener::Open(kms, ns, hash, rec));
  return opener.OpenAll(object, plain);
}

}  // namespace aifs
