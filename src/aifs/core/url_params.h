// URL parameters: "a=1&b=2" lists in backend URLs (chunk stores, KMS).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "aifs/core/status.h"

namespace aifs {

// Decodes %XX escapes. INVALID_ARGUMENT `reason` ("<what>: bad percent
// escape in ...") for a malformed escape.
Result<std::string> PercentDecode(std::string_view s, const std::string& reason,
                                  std::string_view what);

// Splits "a=1<sep>b=2" (empty items skipped), percent-decodes each value and
// hands the pairs to `fn` in order, stopping at its first error, which is
// returned. INVALID_ARGUMENT `reason` ("<what>: ...") for an item without '='
// or a bad escape; these messages never quote a value (it may be a secret).
Status ForEachUrlParam(std::string_view list, char sep, const std::string& reason,
                       std::string_view what,
                       const std::function<Status(std::string_view, std::string)>& fn);

}  // namespace aifs
