#include "aifs/storage/sealed_value.h"

#include <cstring>

#include "aifs/core/random.h"

namespace aifs {

namespace {

constexpr std::string_view kDomain = "aifs/sealed-value/v1";

Bytes Aad(const KeyTag& tag, ByteSpan context) {
  Bytes aad(kDomain.begin(), kDomain.end());
  aad.push_back(0);
  aad.push_back(kSealedValueFormat);
  aad.insert(aad.end(), tag.begin(), tag.end());
  aad.insert(aad.end(), context.begin(), context.end());
  return aad;
}

}  // namespace

Status SealValue(const RecordKey& key, ByteSpan context, ByteSpan plaintext, std::string& out) {
  GcmNonce nonce;
  AIFS_RETURN_IF_ERROR(SecureRandom(nonce));
  Bytes sealed;
  sealed.reserve(kSealedValueOverhead + plaintext.size());
  sealed.push_back(kSealedValueFormat);
  sealed.insert(sealed.end(), key.tag.begin(), key.tag.end());
  sealed.insert(sealed.end(), nonce.begin(), nonce.end());
  AIFS_RETURN_IF_ERROR(AesGcmSeal(key.key, nonce, Aad(key.tag, context), plaintext, sealed));
  out.append(AsChars(sealed));
  return Status::Ok();
}

std::optional<KeyTag> SealedValueTag(std::string_view sealed) {
  if (sealed.size() < kSealedValueOverhead || static_cast<uint8_t>(sealed[0]) != kSealedValueFormat)
    return std::nullopt;
  KeyTag tag;
  std::memcpy(tag.data(), sealed.data() + 1, tag.size());
  return tag;
}

Status OpenValue(const RecordKey& key, ByteSpan context, std::string_view sealed, std::string& out,
                 const char* fail_reason) {
  out.clear();
  auto tag = SealedValueTag(sealed);
  if (!tag) return err::DataLoss(fail_reason, "not a sealed value of a known format");
  if (*tag != key.tag) return err::DataLoss(fail_reason, "sealed under another record key");
  GcmNonce nonce;
  std::memcpy(nonce.data(), sealed.data() + 1 + tag->size(), nonce.size());
  const size_t head = 1 + tag->size() + nonce.size();
  Bytes plain;
  AIFS_RETURN_IF_ERROR(AesGcmOpen(key.key, nonce, Aad(key.tag, context),
                                  AsBytes(sealed.substr(head)), plain, fail_reason));
  out.assign(AsChars(plain));
  return Status::Ok();
}

}  // namespace aifs
