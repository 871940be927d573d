#include "aifs/auth/url_signature.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "aifs/core/hex.h"

namespace aifs::auth {

std::string UrlSigningMessage(const UrlClaim& c) {
  return "aifs-url-v1\n" + c.ns + "\n" + c.id_hex + "\n" + c.as_of + "\n" + c.file_name + "\n" +
         c.expires;
}

std::string SignUrlClaim(ByteSpan key, const UrlClaim& claim) {
  const std::string msg = UrlSigningMessage(claim);
  uint8_t mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const uint8_t*>(msg.data()), msg.size(), mac, &len);
  return HexEncode(ByteSpan(mac, len));
}

bool UrlSignatureMatches(ByteSpan key, const UrlClaim& claim) {
  const std::string want = SignUrlClaim(key, claim);
  return claim.signature.size() == want.size() &&
         CRYPTO_memcmp(claim.signature.data(), want.data(), want.size()) == 0;
}

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace aifs::auth
