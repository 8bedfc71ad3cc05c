package aggregate

import "errors"

// Sentinel errors. Callers test them with errors.Is; the messages that wrap
// them name columns, blocks and sizes but never a value, a key or a record.
var (
	// ErrInvalidLayout is returned when a data owner's rows or values cannot
	// be laid out in union order (row out of range, duplicate row, NaN).
	ErrInvalidLayout = errors.New("aggregate: invalid layout")
	// ErrInvalidCircuit is returned for a circuit whose columns, multipliers
	// or statistics are inconsistent.
	ErrInvalidCircuit = errors.New("aggregate: invalid circuit")
	// ErrInvalidConfig is returned by PlanConfig.Validate.
	ErrInvalidConfig = errors.New("aggregate: invalid plan configuration")
	// ErrInfeasible is returned when no ciphertext level of the parameters
	// gives the requested precision under the requested flooding.
	ErrInfeasible = errors.New("aggregate: precision target infeasible")
	// ErrOutOfBounds is returned when a value handed to the uploader or the
	// evaluator lies outside its column's declared bounds; values must be
	// clamped by Layout first, since an overflow would otherwise corrupt the
	// statistic silently.
	ErrOutOfBounds = errors.New("aggregate: value outside declared bounds")
	// ErrMalformedBlock is returned for upload bytes that do not parse or do
	// not match the plan.
	ErrMalformedBlock = errors.New("aggregate: malformed upload block")
	// ErrDuplicateBlock is returned when the same (column, block) is
	// encrypted or evaluated twice in one session. Encrypting twice would
	// reuse a common polynomial; evaluating twice would double count.
	ErrDuplicateBlock = errors.New("aggregate: duplicate block")
	// ErrMissingBlock is returned by Finalize when a block of a column that a
	// statistic uses has not been evaluated.
	ErrMissingBlock = errors.New("aggregate: missing block")
	// ErrInvalidKey is returned for missing or mismatched key material.
	ErrInvalidKey = errors.New("aggregate: invalid key material")
	// ErrInvalidSeed is returned for a session seed of the wrong size or
	// obviously not random.
	ErrInvalidSeed = errors.New("aggregate: invalid session seed")
)
