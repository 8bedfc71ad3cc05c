package stats

import "errors"

// Sentinel errors. Callers test them with errors.Is; the returned errors wrap
// them with the name of the offending argument, never with its value.
var (
	// ErrNotFinite is returned when an aggregate or a noise scale is NaN or infinite.
	ErrNotFinite = errors.New("stats: input is not finite")
	// ErrNegativeNoise is returned for a negative noise standard deviation.
	ErrNegativeNoise = errors.New("stats: negative noise standard deviation")
	// ErrNonPositiveN is returned when the noisy count is zero or negative,
	// so no ratio over it is defined.
	ErrNonPositiveN = errors.New("stats: noisy count is not positive")
	// ErrTooFewObservations is returned when the noisy count is below what the
	// statistic needs (2 for a variance, 4 for a Fisher-z interval, p+1 for
	// a regression with p coefficients).
	ErrTooFewObservations = errors.New("stats: too few observations")
	// ErrZeroVariance is returned when a noisy sum of squares gives a
	// variance that is zero or negative.
	ErrZeroVariance = errors.New("stats: zero or negative variance")
	// ErrNonPositiveCount is returned by the rate functions when a noisy
	// claim count or exposure is zero or negative, so its log is undefined.
	ErrNonPositiveCount = errors.New("stats: noisy count or exposure is not positive")
	// ErrBadReference is returned when the reference bucket index is out of range.
	ErrBadReference = errors.New("stats: reference bucket out of range")
	// ErrBadTable is returned for a contingency table that is ragged, smaller
	// than 2×2, or has fewer than two non-empty rows or columns.
	ErrBadTable = errors.New("stats: malformed contingency table")
	// ErrDimension is returned when matrix and vector sizes do not agree.
	ErrDimension = errors.New("stats: dimension mismatch")
	// ErrSingular is returned when XᵀX is singular (a column is zero or a
	// linear combination of others).
	ErrSingular = errors.New("stats: singular matrix")
	// ErrIllConditioned is returned when XᵀX is invertible in floating point
	// but so badly conditioned that the coefficients would be meaningless.
	ErrIllConditioned = errors.New("stats: ill-conditioned matrix")
	// ErrNoEdges is returned for an empty list of bucket edges.
	ErrNoEdges = errors.New("stats: no bucket edges")
	// ErrUnsortedEdges is returned when bucket edges are not strictly increasing.
	ErrUnsortedEdges = errors.New("stats: bucket edges not strictly increasing")
)
