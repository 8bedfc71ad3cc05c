// Package dp holds Jointly's differential-privacy building blocks: exact
// samplers for the discrete Gaussian and discrete Laplace distributions, and
// the zero-concentrated DP (zCDP) accounting that turns a noise scale into a
// privacy cost (ε, δ) and back.
//
// Aggregates in Jointly are integers (fixed-point encodings of clipped
// values), so the noise is integer too: adding discrete noise to an integer
// aggregate needs no floating-point arithmetic, which is what makes the
// samplers exact and free of the floating-point attacks on continuous
// mechanisms (Mironov 2012). The samplers implement Algorithms 1–3 of
// Canonne, Kamath and Steinke, "The Discrete Gaussian for Differential
// Privacy" (NeurIPS 2020, arXiv:2004.00010) with big-integer rationals, so
// the only randomness consumed is uniform integers from the Sampler's
// reader.
//
// Usage on the release path of a data owner:
//
//	err := dp.CheckBudget(eps, delta)                       // ranges, before any work
//	sigma, err := dp.GaussianSigma(sensitivity, eps, delta) // calibration
//	s2, err := dp.Sigma2(sigma)                             // exact rational σ² ≥ sigma²
//	noise, err := dp.NewSampler(nil).DiscreteGaussian(s2)   // crypto/rand
//
// Several data owners each add their own full-scale noise to the same
// aggregate (docs/privacy.md, "Every owner adds its own full-scale noise"): a deviating owner must not be able to
// remove the others' noise. The released value therefore carries the sum of
// N independent samples; its variance is N times one owner's variance
// (CombinedSigma), which the confidence intervals of a result must include.
// The privacy guarantee is at least that of one honest owner's noise,
// because post-processing (adding the other owners' independent noise) never
// weakens it.
//
// Quantile selects, ε-DP, a value near a quantile of a data set from a
// public grid of candidates (QuantileCandidates): a node estimates a
// column's public bounds with it (docs/privacy.md, "Automatic bounds"). It
// is permute-and-flip (McKenna and Sheldon 2020) over the rank scores of
// Smith (2011), and draws its coins with the same exact Bernoulli sampler.
//
// Every ε and δ from outside goes through CheckBudget first: the ranges
// MinEpsilon…MaxEpsilon and MinDelta…MaxDelta are the costs the
// calibration is sound for. Every function here is total on float64
// input and every loop is capped, so no input can make one spin.
//
// The package is a pure library: no networking, no logging. A Sampler is not
// safe for concurrent use; make one per goroutine.
package dp
