// Macaroon: a bearer credential whose holder can add caveats (conditions) but
// never remove them, because each caveat is folded into an HMAC chain keyed by
// a root key only the issuer has. A thin C++ face over Debian's libmacaroons
// 0.3.0, which speaks the v1 format (URL-safe base64 of "XXXXkey value\n"
// packets); pymacaroons and other libraries read and write the same bytes.
//
// Promise: Parse() accepts only a well-formed v1 macaroon with first-party
// caveats, AddCaveat() never alters `this`, and Verify() is true only when the
// signature chain matches `root_key` AND `check` accepts every caveat.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "aifs/core/bytes.h"
#include "aifs/core/status.h"

struct macaroon;

namespace aifs::auth {

class Macaroon {
 public:
  // INVALID_ARGUMENT BAD_CAVEAT for an empty identifier or an oversized input.
  static Result<Macaroon> Mint(std::string_view location, ByteSpan root_key,
                               std::string_view identifier);
  // UNAUTHENTICATED TOKEN_MALFORMED for anything that is not a v1 macaroon,
  // or one with third-party caveats (AIFS issues none and discharges none).
  static Result<Macaroon> Parse(std::string_view serialized);

  // A new macaroon with one more first-party caveat. Predicates are text
  // without control characters (INVALID_ARGUMENT BAD_CAVEAT otherwise), so a
  // caveat can never smuggle a second one past a reader that splits lines.
  Result<Macaroon> AddCaveat(std::string_view predicate) const;

  std::string Serialize() const;
  std::string location() const;
  std::string identifier() const;
  // First-party caveat predicates, oldest first.
  const std::vector<std::string>& caveats() const { return caveats_; }

  // `check` returns true when a predicate is satisfied.
  bool Verify(ByteSpan root_key, const std::function<bool(std::string_view)>& check) const;

 private:
  explicit Macaroon(std::shared_ptr<const macaroon> m);
  std::shared_ptr<const macaroon> m_;
  std::vector<std::string> caveats_;
};

}  // namespace aifs::auth
