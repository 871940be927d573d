#include "aifs/auth/macaroon.h"

#include <macaroons.h>

namespace aifs::auth {

namespace {

// libmacaroons asserts (aborts) on strings of MACAROON_MAX_STRLEN or more, so
// nothing that long may reach it from a caller; real tokens are far smaller.
constexpr size_t kMaxTokenChars = 16384;
constexpr size_t kMaxPredicateBytes = 1024;

const unsigned char* U(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

std::shared_ptr<const macaroon> Own(macaroon* m) {
  return std::shared_ptr<const macaroon>(m, [](const macaroon* p) {
    macaroon_destroy(const_cast<macaroon*>(p));
  });
}

Status Malformed(std::string why) {
  return Status(Code::kUnauthenticated, "TOKEN_MALFORMED", "the token is not a macaroon: " + why);
}

}  // namespace

Macaroon::Macaroon(std::shared_ptr<const macaroon> m) : m_(std::move(m)) {
  // libmacaroons 0.3.0 has no caveat accessor, but its verifier hands every
  // first-party predicate, in order, to a general callback whatever the key:
  // a verification with a throwaway key reads them out.
  Verify(ByteSpan(), [&](std::string_view p) {
    caveats_.emplace_back(p);
    return true;
  });
}

Result<Macaroon> Macaroon::Mint(std::string_view location, ByteSpan root_key,
                                std::string_view identifier) {
  if (identifier.empty() || identifier.size() > kMaxPredicateBytes ||
      location.size() > kMaxPredicateBytes || root_key.size() > kMaxPredicateBytes)
    return err::InvalidArgument("BAD_CAVEAT", "bad macaroon identifier or location");
  macaroon_returncode rc = MACAROON_SUCCESS;
  macaroon* m = macaroon_create(U(location), location.size(), root_key.data(), root_key.size(),
                                U(identifier), identifier.size(), &rc);
  if (!m) return err::Internal("MACAROON_FAILED", "macaroon_create failed: " + std::to_string(rc));
  return Macaroon(Own(m));
}

Result<Macaroon> Macaroon::Parse(std::string_view serialized) {
  if (serialized.empty()) return Malformed("empty");
  if (serialized.size() > kMaxTokenChars) return Malformed("too long");
  for (char c : serialized) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '+' || c == '/' || c == '=';
    if (!ok) return Malformed("not base64");
  }
  const std::string text(serialized);  // libmacaroons wants a NUL-terminated string
  macaroon_returncode rc = MACAROON_SUCCESS;
  macaroon* m = macaroon_deserialize(text.c_str(), &rc);
  if (!m) return Malformed("libmacaroons says " + std::to_string(rc));
  auto owned = Own(m);
  if (macaroon_validate(m) != 0) return Malformed("inconsistent fields");
  if (macaroon_num_third_party_caveats(m) != 0) return Malformed("third-party caveats");
  return Macaroon(std::move(owned));
}

Result<Macaroon> Macaroon::AddCaveat(std::string_view predicate) const {
  if (predicate.empty() || predicate.size() > kMaxPredicateBytes)
    return err::InvalidArgument("BAD_CAVEAT", "a caveat is 1-1024 bytes");
  for (unsigned char c : predicate)
    if (c < 0x20 || c == 0x7f)
      return err::InvalidArgument("BAD_CAVEAT", "a caveat has no control characters");
  macaroon_returncode rc = MACAROON_SUCCESS;
  macaroon* m = macaroon_add_first_party_caveat(m_.get(), U(predicate), predicate.size(), &rc);
  if (!m) return err::Internal("MACAROON_FAILED", "adding a caveat failed: " + std::to_string(rc));
  return Macaroon(Own(m));
}

std::string Macaroon::Serialize() const {
  std::string out(macaroon_serialize_size_hint(m_.get()), '\0');
  macaroon_returncode rc = MACAROON_SUCCESS;
  if (macaroon_serialize(m_.get(), out.data(), out.size(), &rc) < 0) return "";
  out.resize(out.find('\0') == std::string::npos ? out.size() : out.find('\0'));
  return out;
}

std::string Macaroon::location() const {
  const unsigned char* p = nullptr;
  size_t n = 0;
  macaroon_location(m_.get(), &p, &n);
  return std::string(reinterpret_cast<const char*>(p), n);
}

std::string Macaroon::identifier() const {
  const unsigned char* p = nullptr;
  size_t n = 0;
  macaroon_identifier(m_.get(), &p, &n);
  return std::string(reinterpret_cast<const char*>(p), n);
}

bool Macaroon::Verify(ByteSpan root_key,
                      const std::function<bool(std::string_view)>& check) const {
  struct Verifier {
    macaroon_verifier* v = macaroon_verifier_create();
    ~Verifier() { macaroon_verifier_destroy(v); }
  } verifier;
  if (!verifier.v) return false;
  // libmacaroons' convention: the callback returns 0 for "satisfied".
  auto general = [](void* f, const unsigned char* pred, size_t size) -> int {
    const auto& fn = *static_cast<const std::function<bool(std::string_view)>*>(f);
    return fn(std::string_view(reinterpret_cast<const char*>(pred), size)) ? 0 : -1;
  };
  macaroon_returncode rc = MACAROON_SUCCESS;
  if (macaroon_verifier_satisfy_general(verifier.v, general,
                                        const_cast<std::function<bool(std::string_view)>*>(&check),
                                        &rc) != 0)
    return false;
  static const unsigned char kNoKey = 0;
  const unsigned char* key = root_key.empty() ? &kNoKey : root_key.data();
  return macaroon_verify(verifier.v, m_.get(), key, root_key.size(), nullptr, 0, &rc) == 0;
}

}  // namespace aifs::auth
