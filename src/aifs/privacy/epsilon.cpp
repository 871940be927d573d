#include "aifs/privacy/epsilon.h"

namespace aifs::privacy {

Result<uint64_t> ParseEpsilon(std::string_view text) {
  auto bad = [&] {
    return err::InvalidArgument("BAD_EPSILON", "'" + err::Echo(text) +
                                                   "' is not an epsilon like 0.5 (at most 6 "
                                                   "decimals, 0 to 1000)");
  };
  const size_t point = text.find('.');
  const std::string_view whole = text.substr(0, point);
  const std::string_view frac =
      point == std::string_view::npos ? std::string_view() : text.substr(point + 1);
  if (whole.empty() || whole.size() > 4 || frac.size() > 6 ||
      (point != std::string_view::npos && frac.empty()))
    return bad();
  uint64_t micros = 0;
  for (char c : whole) {
    if (c < '0' || c > '9') return bad();
    micros = micros * 10 + static_cast<uint64_t>(c - '0');
  }
  micros *= kMicrosPerEpsilon;
  uint64_t unit = kMicrosPerEpsilon;
  for (char c : frac) {
    if (c < '0' || c > '9') return bad();
    unit /= 10;
    micros += unit * static_cast<uint64_t>(c - '0');
  }
  if (micros > kMaxEpsilonMicros) return bad();
  return micros;
}

std::string FormatEpsilon(uint64_t micros) {
  std::string out = std::to_string(micros / kMicrosPerEpsilon);
  uint64_t frac = micros % kMicrosPerEpsilon;
  if (frac == 0) return out;
  std::string digits = std::to_string(frac);
  digits = std::string(6 - digits.size(), '0') + digits;
  while (digits.back() == '0') digits.pop_back();
  return out + "." + digits;
}

}  // namespace aifs::privacy
