#include "aifs/storage/aead.h"

#include <openssl/evp.h>

#include <climits>
#include <cstring>
#include <memory>

namespace aifs {

namespace {

struct CtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

// One context per thread: EVP_CIPHER_CTX_new per chunk shows up in profiles.
EVP_CIPHER_CTX* ThreadCtx() {
  thread_local std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter> ctx(EVP_CIPHER_CTX_new());
  EVP_CIPHER_CTX_reset(ctx.get());
  return ctx.get();
}

// EVP takes int lengths; process large buffers in slices.
constexpr size_t kSlice = size_t{1} << 30;

// A second context per thread for decryption that keeps the key schedule of
// the last key: opening many small values under one key (sealed metadata in
// a scan) then costs an IV reset per value instead of a key expansion.
struct DecryptCache {
  std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter> ctx{EVP_CIPHER_CTX_new()};
  AesKey key{};
  bool valid = false;
  ~DecryptCache() { SecureWipe(key.data(), key.size()); }
};

// Constant-time equality of two keys, a word at a time.
bool SameKey(const AesKey& a, const AesKey& b) {
  uint64_t diff = 0;
  for (size_t i = 0; i < a.size(); i += 8) {
    uint64_t x, y;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    diff |= x ^ y;
  }
  return diff == 0;
}

bool InitDecrypt(EVP_CIPHER_CTX*& out, const AesKey& key, const GcmNonce& nonce) {
  thread_local DecryptCache cache;
  out = cache.ctx.get();
  if (cache.valid && SameKey(cache.key, key) &&
      EVP_DecryptInit_ex(out, nullptr, nullptr, nullptr, nonce.data()) == 1)
    return true;
  cache.valid = false;
  EVP_CIPHER_CTX_reset(out);
  if (EVP_DecryptInit_ex(out, EVP_aes_256_gcm(), nullptr, key.data(), nonce.data()) != 1)
    return false;
  cache.key = key;
  cache.valid = true;
  return true;
}

}  // namespace

Status AesGcmSeal(const AesKey& key, const GcmNonce& nonce, ByteSpan aad, ByteSpan plaintext,
                  Bytes& out) {
  EVP_CIPHER_CTX* ctx = ThreadCtx();
  const size_t base = out.size();
  out.resize(base + plaintext.size() + kGcmTagSize);
  uint8_t* dst = out.data() + base;
  int len = 0;
  bool ok = EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, key.data(), nonce.data()) == 1;
  if (ok && !aad.empty())
    ok = EVP_EncryptUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1;
  size_t written = 0;
  for (size_t off = 0; ok && off < plaintext.size(); off += kSlice) {
    size_t n = std::min(kSlice, plaintext.size() - off);
    ok = EVP_EncryptUpdate(ctx, dst + written, &len, plaintext.data() + off,
                           static_cast<int>(n)) == 1;
    written += static_cast<size_t>(len);
  }
  if (ok) ok = EVP_EncryptFinal_ex(ctx, dst + written, &len) == 1;
  if (ok) written += static_cast<size_t>(len);
  if (ok)
    ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kGcmTagSize, dst + written) == 1;
  if (!ok || written != plaintext.size()) {
    out.resize(base);
    return err::Internal("ENCRYPT_FAILED", "AES-256-GCM encryption failed");
  }
  return Status::Ok();
}

Status AesGcmOpenTo(const AesKey& key, const GcmNonce& nonce, ByteSpan aad, ByteSpan sealed,
                    uint8_t* out, const char* fail_reason) {
  auto fail = [&] {
    if (sealed.size() > kGcmTagSize) SecureWipe(out, sealed.size() - kGcmTagSize);
    return err::DataLoss(fail_reason, "AES-256-GCM authentication failed (wrong key or tampered data)");
  };
  if (sealed.size() < kGcmTagSize) return fail();
  const size_t ct_size = sealed.size() - kGcmTagSize;
  EVP_CIPHER_CTX* ctx = nullptr;
  int len = 0;
  bool ok = InitDecrypt(ctx, key, nonce);
  if (ok && !aad.empty())
    ok = EVP_DecryptUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1;
  size_t written = 0;
  for (size_t off = 0; ok && off < ct_size; off += kSlice) {
    size_t n = std::min(kSlice, ct_size - off);
    ok = EVP_DecryptUpdate(ctx, out + written, &len, sealed.data() + off, static_cast<int>(n)) == 1;
    written += static_cast<size_t>(len);
  }
  if (ok)
    ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kGcmTagSize,
                             const_cast<uint8_t*>(sealed.data() + ct_size)) == 1;
  uint8_t final_block[16];
  if (ok) ok = EVP_DecryptFinal_ex(ctx, final_block, &len) == 1 && len == 0;
  if (!ok) return fail();
  return Status::Ok();
}

Status AesGcmOpen(const AesKey& key, const GcmNonce& nonce, ByteSpan aad, ByteSpan sealed,
                  Bytes& out, const char* fail_reason) {
  out.resize(sealed.size() > kGcmTagSize ? sealed.size() - kGcmTagSize : 0);
  Status st = AesGcmOpenTo(key, nonce, aad, sealed, out.data(), fail_reason);
  if (!st.ok()) out.clear();
  return st;
}

}  // namespace aifs
