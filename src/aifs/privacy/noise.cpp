#include "aifs/privacy/noise.h"

namespace aifs::privacy {

namespace {

// floor(sqrt(n)) for n < 2^126, by Newton's method on integers.
u128 FloorSqrt(u128 n) {
  if (n < 2) return n;
  u128 x = n, y = (x + 1) / 2;
  while (y < x) {
    x = y;
    y = (x + n / x) / 2;
  }
  return x;
}

// Bernoulli(exp(-gamma)) for 0 <= gamma <= 1: K counts successes of
// Bernoulli(gamma / k), k = 1, 2, ...; P(K odd) = sum (-gamma)^j / j! =
// exp(-gamma). Bernoulli(gamma / k) is drawn as Bernoulli(gamma) AND
// Bernoulli(1 / k), so no product can overflow.
bool BernoulliExpAtMostOne(const Rational& gamma, RandomBits& rng) {
  uint64_t k = 1;
  while (rng.Bernoulli(gamma.num, gamma.den) && rng.Bernoulli(1, k)) ++k;
  return (k & 1) == 1;
}

const Rational kOne{1, 1};

}  // namespace

bool BernoulliExp(const Rational& gamma, RandomBits& rng) {
  // exp(-gamma) = exp(-1)^floor(gamma) * exp(-(gamma - floor(gamma))).
  for (u128 i = gamma.num / gamma.den; i > 0; --i)
    if (!BernoulliExpAtMostOne(kOne, rng)) return false;
  return BernoulliExpAtMostOne(Rational{gamma.num % gamma.den, gamma.den}, rng);
}

Status CheckLaplaceScale(const Rational& scale) {
  if (scale.num == 0 || scale.den == 0 || scale.num >= kMaxScalePart || scale.den >= kMaxScalePart)
    return err::InvalidArgument("BAD_NOISE_SCALE",
                                "the Laplace scale must be a positive fraction of integers "
                                "below 2^64");
  return Status::Ok();
}

Status CheckGaussianSigma2(const Rational& sigma2) {
  if (sigma2.num == 0 || sigma2.den == 0 || sigma2.num >= kMaxSigma2Num ||
      sigma2.den >= kMaxSigma2Den)
    return err::InvalidArgument("BAD_NOISE_SCALE",
                                "sigma^2 must be a positive fraction a/b with a < 2^40, b < 2^16");
  return Status::Ok();
}

int64_t DiscreteLaplace(const Rational& scale, RandomBits& rng) {
  // CKS Alg. 2 with scale t/s: t = scale.num, s = scale.den.
  const u128 t = scale.num, s = scale.den;
  while (true) {
    const u128 u = rng.Uniform(t);
    if (!BernoulliExp(Rational{u, t}, rng)) continue;
    u128 v = 0;
    while (BernoulliExpAtMostOne(kOne, rng)) ++v;
    const u128 y = (u + t * v) / s;
    const bool negative = rng.Bernoulli(1, 2);
    if (negative && y == 0) continue;
    // |y| >= 2^63 has probability below exp(-2^63 / 2^64 * 2^64) ~ 0; the
    // cast saturates rather than wraps should it ever happen.
    const int64_t mag = y >= (u128{1} << 63) ? INT64_MAX : static_cast<int64_t>(y);
    return negative ? -mag : mag;
  }
}

int64_t DiscreteGaussian(const Rational& sigma2, RandomBits& rng) {
  // CKS Alg. 3: candidates from the discrete Laplace with scale t =
  // floor(sigma) + 1, accepted with probability
  // exp(-(|y| - sigma^2/t)^2 / (2 sigma^2)). With sigma^2 = a/b the exponent
  // is (|y| b t - a)^2 / (2 a b t^2).
  const u128 a = sigma2.num, b = sigma2.den;
  const u128 t = FloorSqrt(a / b) + 1;
  const u128 den = 2 * a * b * t * t;
  while (true) {
    const int64_t y = DiscreteLaplace(Rational{t, 1}, rng);
    const u128 mag = y < 0 ? u128(-(y + 1)) + 1 : u128(y);
    if (mag >= ((u128{1} << 63) / (b * t))) continue;  // see noise.h
    const u128 ybt = mag * b * t;
    const u128 diff = ybt >= a ? ybt - a : a - ybt;
    if (BernoulliExp(Rational{diff * diff, den}, rng)) return y;
  }
}

}  // namespace aifs::privacy
