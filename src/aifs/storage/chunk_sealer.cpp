#include "aifs/storage/chunk_sealer.h"

#include <cstring>

#include "aifs/core/random.h"

namespace aifs {

namespace {

Bytes ChunkAad(std::string_view ns, const Digest& hash, store::v1::Compression compression,
               uint64_t plain_size) {
  static constexpr std::string_view kDomain = "aifs/chunk/v1";
  Bytes aad(kDomain.begin(), kDomain.end());
  aad.push_back(0);
  aad.insert(aad.end(), ns.begin(), ns.end());
  aad.push_back(0);
  aad.insert(aad.end(), hash.begin(), hash.end());
  aad.push_back(static_cast<uint8_t>(compression));
  for (int i = 0; i < 8; ++i) aad.push_back(static_cast<uint8_t>(plain_size >> (8 * i)));
  return aad;
}

Status Corrupt(const Status& cause) {
  return err::DataLoss("CHUNK_CORRUPT", "stored chunk failed verification: " + cause.message());
}

}  // namespace

Status SealChunk(Kms& kms, std::string_view ns, const Digest& hash, ByteSpan plain,
                 const SealPolicy& policy, Bytes& object, store::v1::ChunkRecord& rec) {
  Bytes compressed;
  const bool use_zstd = MaybeCompress(plain, policy.compression, compressed);
  const auto compression = use_zstd ? store::v1::COMPRESSION_ZSTD : store::v1::COMPRESSION_NONE;
  ByteSpan payload = use_zstd ? ByteSpan(compressed) : plain;

  AesKey data_key;
  GcmNonce nonce;
  AIFS_RETURN_IF_ERROR(SecureRandom(data_key));
  AIFS_RETURN_IF_ERROR(SecureRandom(nonce));
  const Bytes aad = ChunkAad(ns, hash, compression, plain.size());
  object.clear();
  object.reserve(payload.size() + kGcmTagSize);
  Status st = AesGcmSeal(data_key, nonce, aad, payload, object);
  Result<WrappedKey> wrapped =
      !st.ok() ? Result<WrappedKey>(st)
      : policy.kms_key_id.empty() ? kms.Wrap(data_key, aad)
                                  : kms.WrapWith(policy.kms_key_id, data_key, aad);
  SecureWipe(data_key.data(), data_key.size());
  if (!wrapped.ok()) return wrapped.status();

  rec.set_plain_size(plain.size());
  rec.set_stored_size(object.size());
  rec.set_compression(compression);
  rec.set_kms_key_id(wrapped->key_id);
  rec.set_wrapped_key(wrapped->blob.data(), wrapped->blob.size());
  rec.set_nonce(nonce.data(), nonce.size());
  return Status::Ok();
}

Result<AesKey> UnwrapChunkKey(Kms& kms, std::string_view ns, const Digest& hash,
                              const store::v1::ChunkRecord& rec) {
  const Bytes aad = ChunkAad(ns, hash, rec.compression(), rec.plain_size());
  Result<AesKey> unwrapped = kms.Unwrap(rec.kms_key_id(), AsBytes(rec.wrapped_key()), aad);
  // A wrapped key that fails to authenticate was altered or moved.
  if (!unwrapped.ok() && unwrapped.status().code() == Code::kDataLoss)
    return Corrupt(unwrapped.status());
  return unwrapped;
}

Status RewrapChunkKey(Kms& kms, std::string_view ns, const Digest& hash, std::string_view key_id,
                      store::v1::ChunkRecord& rec) {
  const Bytes aad = ChunkAad(ns, hash, rec.compression(), rec.plain_size());
  Result<WrappedKey> moved = kms.Rewrap(rec.kms_key_id(), AsBytes(rec.wrapped_key()), aad, key_id);
  if (!moved.ok())
    return moved.status().code() == Code::kDataLoss ? Corrupt(moved.status()) : moved.status();
  rec.set_kms_key_id(moved->key_id);
  rec.set_wrapped_key(moved->blob.data(), moved->blob.size());
  return Status::Ok();
}

Status OpenChunk(Kms& kms, std::string_view ns, const Digest& hash,
                 const store::v1::ChunkRecord& rec, ByteSpan object, Bytes& plain) {
  if (rec.nonce().size() != sizeof(GcmNonce))
    return err::DataLoss("METADATA_CORRUPT", "chunk record has a bad nonce");
  const Bytes aad = ChunkAad(ns, hash, rec.compression(), rec.plain_size());
  AIFS_ASSIGN_OR_RETURN(AesKey data_key, UnwrapChunkKey(kms, ns, hash, rec));
  GcmNonce nonce;
  std::memcpy(nonce.data(), rec.nonce().data(), nonce.size());
  Bytes decrypted;
  Status st = AesGcmOpen(data_key, nonce, aad, object, decrypted);
  SecureWipe(data_key.data(), data_key.size());
  if (!st.ok()) return Corrupt(st);
  if (rec.compression() == store::v1::COMPRESSION_ZSTD) {
    st = Decompress(decrypted, rec.plain_size(), plain);
    if (!st.ok()) return Corrupt(st);
  } else {
    plain = std::move(decrypted);
  }
  if (plain.size() != rec.plain_size() || Blake3::Hash(plain) != hash)
    return err::DataLoss("CHUNK_CORRUPT", "chunk content does not match its BLAKE3 hash");
  return Status::Ok();
}

}  // namespace aifs
