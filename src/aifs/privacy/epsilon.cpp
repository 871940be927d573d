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

Result<uint64_t> ParseDelta(std::string_view text) {
  auto bad = [&] {
    return err::InvalidArgument("BAD_DELTA", "'" + err::Echo(text) +
                                                 "' is not a delta like 0.000001 or 1e-6 (0 to "
                                                 "below 1, at most 12 decimals)");
  };
  // MANTISSA[eEXPONENT]: value = digits * 10^-(fraction digits - exponent).
  const size_t e = text.find_first_of("eE");
  const std::string_view mantissa = text.substr(0, e);
  int scale = 0;  // decimal places of the value
  if (e != std::string_view::npos) {
    std::string_view exp = text.substr(e + 1);
    const bool negative = exp.starts_with('-');
    if (negative) exp.remove_prefix(1);
    if (exp.empty() || exp.size() > 2) return bad();
    for (char c : exp) {
      if (c < '0' || c > '9') return bad();
      scale = scale * 10 + (c - '0');
    }
    if (!negative) scale = -scale;
  }
  const size_t point = mantissa.find('.');
  const std::string_view whole = mantissa.substr(0, point);
  const std::string_view frac =
      point == std::string_view::npos ? std::string_view() : mantissa.substr(point + 1);
  if (whole.empty() || (point != std::string_view::npos && frac.empty()) ||
      whole.size() + frac.size() > 24)
    return bad();
  scale += static_cast<int>(frac.size());
  unsigned __int128 digits = 0;
  for (std::string_view part : {whole, frac})
    for (char c : part) {
      if (c < '0' || c > '9') return bad();
      digits = digits * 10 + static_cast<unsigned>(c - '0');
    }
  // To pico-delta: shift by 12 - scale places, refusing lost digits.
  for (; scale > 12; --scale) {
    if (digits % 10 != 0) return bad();
    digits /= 10;
  }
  for (; scale < 12; ++scale) {
    digits *= 10;
    if (digits >= kPicosPerDelta) return bad();
  }
  if (digits >= kPicosPerDelta) return bad();
  return static_cast<uint64_t>(digits);
}

std::string FormatDelta(uint64_t picos) {
  if (picos == 0) return "0";
  if (picos >= kPicosPerDelta / 1000) {  // 0.001 and up: plain decimals
    std::string digits = std::to_string(picos % kPicosPerDelta);
    digits = std::string(12 - digits.size(), '0') + digits;
    while (digits.back() == '0') digits.pop_back();
    return std::to_string(picos / kPicosPerDelta) + "." + digits;
  }
  // m.mmm e-X: the first significant digit before the point.
  std::string digits = std::to_string(picos);
  const int exponent = 12 - static_cast<int>(digits.size()) + 1;
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out = digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  return out + "e-" + std::to_string(exponent);
}

}  // namespace aifs::privacy
