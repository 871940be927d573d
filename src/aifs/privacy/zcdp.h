// Calibrating the discrete Gaussian mechanism to an (epsilon, delta) budget
// through zero-concentrated DP (docs/privacy.md, "The discrete Gaussian"):
//
//   rho     = (sqrt(L + epsilon) - sqrt(L))^2,  L = ln(1 / delta)
//   sigma^2 = D2^2 / (2 rho)
//
// rho is the largest value whose rho-zCDP implies (epsilon, delta)-DP by
// Bun and Steinke (TCC 2016), Proposition 1.3: rho + 2 sqrt(rho L) = epsilon.
// Adding the discrete Gaussian N_Z(0, sigma^2) to an integer query of L2
// sensitivity D2 is D2^2 / (2 sigma^2)-zCDP (Canonne, Kamath and Steinke,
// NeurIPS 2020, Theorem 4; independently on every coordinate of a vector
// query, with D2 its L2 sensitivity).
//
// The floating point is only in this parameter, never in the noise: sigma^2
// is computed in long double, raised by a relative margin far above the
// rounding error, and rounded UP to an exact rational for the sampler. More
// noise than needed is always safe; less never happens.
#pragma once

#include <cstdint>
#include <string>

#include "aifs/core/status.h"
#include "aifs/privacy/noise.h"

namespace aifs::privacy {

// The zCDP parameter an (epsilon, delta) budget buys (epsilon in
// micro-epsilon, delta in pico-delta; both > 0).
long double ZcdpRho(uint64_t epsilon_micros, uint64_t delta_picos);

// sigma^2 = d2_squared / (2 rho), rounded up to a/10^k with the most decimals
// (k <= 4) that keep it within the sampler's limits (CheckGaussianSigma2).
// INVALID_ARGUMENT NOISE_TOO_LARGE when even whole units exceed them: the
// budget is too small for the field's bounds (more epsilon or delta, or the
// Laplace mechanism, helps).
Result<Rational> GaussianSigma2(u128 d2_squared, long double rho);

// "112.5001" for 1125001/10^4 (a power of ten below 2^16 as denominator).
std::string FormatSigma2(const Rational& sigma2);

}  // namespace aifs::privacy
