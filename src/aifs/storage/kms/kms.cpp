#include "aifs/storage/kms.h"

#include "aifs/storage/kms/local_kms.h"
#include "aifs/storage/kms/pkcs11_kms.h"

namespace aifs {

Bytes KmsWrapAad(std::string_view key_id, ByteSpan context) {
  std::string aad("aifs/kms-wrap/v1");
  aad.push_back('\0');
  aad.append(key_id);
  aad.push_back('\0');
  Bytes out(aad.begin(), aad.end());
  out.insert(out.end(), context.begin(), context.end());
  return out;
}

Result<WrappedKey> Kms::Rewrap(std::string_view from_key_id, ByteSpan blob, ByteSpan context,
                               std::string_view to_key_id) {
  AIFS_ASSIGN_OR_RETURN(AesKey key, Unwrap(from_key_id, blob, context));
  auto wrapped = WrapWith(to_key_id, key, context);
  SecureWipe(key.data(), key.size());
  return wrapped;
}

Result<std::unique_ptr<Kms>> OpenKms(const std::string& url, bool create) {
  constexpr std::string_view kLocal = "local://";
  if (url.starts_with(kLocal)) return LocalKms::Open(url.substr(kLocal.size()), create);
  if (url.starts_with("pkcs11:")) {
    AIFS_ASSIGN_OR_RETURN(auto kms, Pkcs11Kms::Open(url, create));
    return std::unique_ptr<Kms>(std::move(kms));
  }
  return err::InvalidArgument("UNSUPPORTED_KMS", "no KMS backend for '" + url + "'");
}

}  // namespace aifs
