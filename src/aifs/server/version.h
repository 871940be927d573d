// What this build is, for Introspect and `aifs --version`.
#pragma once

#include <string_view>

namespace aifs::server {

inline constexpr std::string_view kVersion = AIFS_VERSION_STRING;
inline constexpr std::string_view kBuild = AIFS_BUILD_STRING;

}  // namespace aifs::server
