// Pre-signed URL signatures (docs/http.md, "Pre-signed URLs").
//
// A URL key (auth::kUrlKeys ring) signs, with HMAC-SHA256, the canonical
// message
//   "aifs-url-v1\n" NS "\n" ID "\n" AS_OF "\n" NAME "\n" EXPIRES
// so that none of namespace, asset, ref, file name and expiry can be changed
// without the key. Stateless and thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "aifs/api/caller.h"
#include "aifs/core/bytes.h"

namespace aifs::auth {

std::string UrlSigningMessage(const UrlClaim& claim);
// Lowercase hex HMAC-SHA256 of the claim's message (claim.signature is ignored).
std::string SignUrlClaim(ByteSpan key, const UrlClaim& claim);
// Constant-time comparison of claim.signature with the right one.
bool UrlSignatureMatches(ByteSpan key, const UrlClaim& claim);

// RFC 3986 percent-encoding of everything outside the unreserved set
// (ALPHA DIGIT - . _ ~); "/" too, so a value stays one path segment.
std::string PercentEncode(std::string_view text);

}  // namespace aifs::auth
