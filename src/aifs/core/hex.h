// Lowercase hexadecimal, the only spelling of IDs AIFS accepts.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "aifs/core/bytes.h"

namespace aifs {

std::string HexEncode(ByteSpan bytes);
// Strict: lowercase [0-9a-f] only, even length; anything else yields nullopt.
std::optional<Bytes> HexDecode(std::string_view hex);
bool IsLowerHex(std::string_view s);

}  // namespace aifs
