// Package stats is the plaintext post-processing a querier runs on decrypted,
// differentially-private sufficient statistics (docs/results.md): means
// and variances, Pearson correlations, claim rates and relative risks per
// bucket, chi-square tests of contingency tables and ordinary least squares
// from XᵀX and Xᵀy.
//
// Every input is a noisy aggregate: the exact sum plus the Gaussian (or
// Laplace) noise the data owners added before release. Alongside each
// aggregate the caller passes the standard deviation of that noise (0 in
// exact mode), and every confidence interval here accounts for both sources
// of uncertainty: the sampling variance of the statistic and the variance
// the DP noise adds, propagated through the estimator with the delta method
// and added in quadrature on the scale the interval is built on. The noise
// on distinct aggregates is assumed independent, which holds because each
// released aggregate gets its own noise draw.
//
// Intervals are 95 % two-sided normal-approximation intervals (see Z95).
// README.md in this directory lists the formulas.
//
// Exact mode's sums are exact integers; MeanExact, VarianceExact,
// PearsonExact and OLSExact take them as they are (exact.go).
//
// Typical use, after decryption:
//
//	r, lo, hi, err := stats.Pearson(sums, noise)
//	if errors.Is(err, stats.ErrTooFewObservations) { ... }
//
// The package is a pure library over the standard library: no network, no
// logging, and no error message carries an input value.
package stats
