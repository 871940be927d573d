// UTF-8 well-formedness (RFC 3629): no overlong forms, no surrogates, no code
// points above U+10FFFF, no truncated sequences. Pure; thread-safe.
#pragma once

#include <string_view>

namespace aifs {

bool ValidUtf8(std::string_view s);

}  // namespace aifs
