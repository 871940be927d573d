#include "aifs/privacy/zcdp.h"

#include <cmath>

#include "aifs/privacy/epsilon.h"

namespace aifs::privacy {

namespace {

// Far above the long double rounding error of the few operations below
// (about 1e-18 each), far below anything that matters for accuracy.
constexpr long double kMargin = 1e-12L;

}  // namespace

long double ZcdpRho(uint64_t epsilon_micros, uint64_t delta_picos) {
  const long double eps = static_cast<long double>(epsilon_micros) / kMicrosPerEpsilon;
  const long double log_inv_delta = std::log(static_cast<long double>(kPicosPerDelta)) -
                                    std::log(static_cast<long double>(delta_picos));
  // (sqrt(L + eps) - sqrt(L))^2 without the cancellation of the difference.
  const long double sum = std::sqrt(log_inv_delta + eps) + std::sqrt(log_inv_delta);
  return eps * eps / (sum * sum);
}

Result<Rational> GaussianSigma2(u128 d2_squared, long double rho) {
  const long double sigma2 = static_cast<long double>(d2_squared) / (2 * rho) * (1 + kMargin);
  const long double limit = static_cast<long double>(kMaxSigma2Num - 1);
  if (!(sigma2 > 0) || !(std::ceil(sigma2) <= limit))
    return err::InvalidArgument(
        "NOISE_TOO_LARGE",
        "the Gaussian noise this budget needs for these bounds is beyond the sampler (sigma^2 "
        "above 2^40); spend more epsilon or delta, narrow the field's bounds, or use laplace");
  Rational out{0, 1};
  for (u128 den = 10000; den >= 1; den /= 10) {
    const long double scaled = std::ceil(sigma2 * static_cast<long double>(den));
    if (scaled <= limit) {
      out = Rational{static_cast<u128>(scaled), den};
      break;
    }
  }
  return out;
}

std::string FormatSigma2(const Rational& sigma2) {
  const auto whole = static_cast<uint64_t>(sigma2.num / sigma2.den);
  auto frac = static_cast<uint64_t>(sigma2.num % sigma2.den);
  std::string digits;
  for (u128 d = sigma2.den; d > 1; d /= 10) {
    digits.insert(digits.begin(), static_cast<char>('0' + frac % 10));
    frac /= 10;
  }
  while (!digits.empty() && digits.back() == '0') digits.pop_back();
  return std::to_string(whole) + (digits.empty() ? "" : "." + digits);
}

}  // namespace aifs::privacy
