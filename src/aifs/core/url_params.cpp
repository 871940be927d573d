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
  while (!list.empty()) {
    const size_t end = std::min(list.find(sep), list.size());
    const std::string_view item = list.substr(0, end);
    list.remove_prefix(std::min(end + 1, list.size()));
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos)
      return err::InvalidArgument(
          reason, std::string(what) + ": '" + err::Echo(item) + "' is not name=value");
    AIFS_ASSIGN_OR_RETURN(std::string value, PercentDecode(item.substr(eq + 1), reason, what));
    AIFS_RETURN_IF_ERROR(fn(item.substr(0, eq), std::move(value)));
  }
  return Status::Ok();
}

}  // namespace aifs
