#include "aifs/storage/sealed_value.h"

#include <cstring>

#include "aifs/core/random.h"

namespace aifs {

namespace {

constexpr std::string_view kDomain = "aifs/sealed-value/v1";

// The AAD, in a buffer of the calling thread (opening values in a scan
// should not allocate for it each time).
ByteSpan Aad(const KeyTag& tag, ByteSpan context) {
  thread_local std::string aad;
  aad.assign(kDomain);
  aad.push_back('\0');
  aad.push_back(static_cast<char>(kSealedValueFormat));
  aad.append(reinterpret_cast<const char*>(tag.data()), tag.size());
  aad.append(reinterpret_cast<const char*>(context.data()), context.size());
  return AsBytes(aad);
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
  out.resize(sealed.size() - head - kGcmTagSize);
  Status st = AesGcmOpenTo(key.key, nonce, Aad(key.tag, context), AsBytes(sealed.substr(head)),
                           reinterpret_cast<uint8_t*>(out.data()), fail_reason);
  if (!st.ok()) out.clear();
  return st;
}

}  // namespace aifs
