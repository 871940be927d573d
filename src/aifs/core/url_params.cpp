#include "aifs/core/url_params.h"

#include <algorithm>

namespace aifs {

Result<std::string> PercentDecode(std::string_view s, const std::string& reason,
                                  std::string_view what) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    const int hi = i + 2 < s.size() ? nibble(s[i + 1]) : -1;
    const int lo = i + 2 < s.size() ? nibble(s[i + 2]) : -1;
    if (hi < 0 || lo < 0)
      return err::InvalidArgument(
          reason, std::string(what) + ": bad percent escape in '" + err::Echo(s) + "'");
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

Status ForEachUrlParam(std::string_view list, char sep, const std::string& reason,
                       std::string_view what,
                       const std::function<Status(std::string_view, std::string)>& fn) {
  // Values may be secrets (a PIN, a key pasted by mistake): errors name the
  // parameter, never show a value.
  for (size_t n = 1; !list.empty(); ++n) {
    const size_t end = std::min(list.find(sep), list.size());
    const std::string_view item = list.substr(0, end);
    list.remove_prefix(std::min(end + 1, list.size()));
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos)
      return err::InvalidArgument(
          reason, std::string(what) + ": parameter " + std::to_string(n) + " is not name=value");
    const std::string_view name = item.substr(0, eq);
    auto value = PercentDecode(item.substr(eq + 1), reason, what);
    if (!value.ok())
      return err::InvalidArgument(
          reason,
          std::string(what) + ": bad percent escape in the value of '" + err::Echo(name) + "'");
    AIFS_RETURN_IF_ERROR(fn(name, std::move(*value)));
  }
  return Status::Ok();
}

}  // namespace aifs
