// Exact noise for differential privacy: Bernoulli(exp(-gamma)), the discrete
// Laplace and the discrete Gaussian distributions over the integers, sampled
// with integer arithmetic only, after Canonne, Kamath and Steinke, "The
// Discrete Gaussian for Differential Privacy" (NeurIPS 2020), Algorithms 1-3.
//
// Why not floating point: a floating-point Laplace sample leaks the true
// answer through the pattern of its low bits (Mironov, "On Significance of
// the Least Significant Bits for Differential Privacy", CCS 2012). Here every
// probability is a ratio of integers and every coin is an exact uniform
// integer from RandomBits, so the output distribution is exactly the one
// stated (docs/privacy.md), with one documented exception in
// DiscreteGaussian.
//
// Stateless functions; the RandomBits they draw from is the caller's (not
// thread-safe itself).
#pragma once

#include <cstdint>

#include "aifs/core/status.h"
#include "aifs/privacy/random_bits.h"

namespace aifs::privacy {

// A non-negative rational num/den (den > 0).
struct Rational {
  u128 num = 0;
  u128 den = 1;
};

// true with probability exp(-gamma), for rational gamma >= 0 (CKS Alg. 1).
// gamma.num/gamma.den must each stay below 2^126.
bool BernoulliExp(const Rational& gamma, RandomBits& rng);

// Parameters the samplers accept. Callers validate first (INVALID_ARGUMENT
// BAD_NOISE_SCALE naming the limit); the samplers assume valid input.
inline constexpr u128 kMaxScalePart = u128{1} << 64;  // scale num, den < 2^64
inline constexpr u128 kMaxSigma2Num = u128{1} << 40;  // sigma^2 = num/den ...
inline constexpr u128 kMaxSigma2Den = u128{1} << 16;
Status CheckLaplaceScale(const Rational& scale);
Status CheckGaussianSigma2(const Rational& sigma2);

// The discrete Laplace distribution with scale t = scale.num/scale.den > 0:
// P(x) = (e^(1/t) - 1) / (e^(1/t) + 1) * e^(-|x|/t) for every integer x
// (CKS Alg. 2). Adding it to an integer query of L1 sensitivity D with
// t = D/epsilon gives epsilon-differential privacy.
int64_t DiscreteLaplace(const Rational& scale, RandomBits& rng);

// The discrete Gaussian with variance parameter sigma^2 = sigma2 > 0:
// P(x) proportional to e^(-x^2 / (2 sigma^2)) (CKS Alg. 3). Adding it to an
// integer query of L2 sensitivity D gives D^2 / (2 sigma^2)-zCDP.
// Exact except when a candidate lies so far out (|x| b t >= 2^63, with
// sigma^2 = a/b and t = floor(sigma) + 1) that the acceptance exponent
// would overflow: such a candidate, whose acceptance probability is below
// exp(-2^27), is rejected.
int64_t DiscreteGaussian(const Rational& sigma2, RandomBits& rng);

}  // namespace aifs::privacy
