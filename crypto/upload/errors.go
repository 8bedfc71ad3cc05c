package upload

import "errors"

// Sentinel errors. Callers test them with errors.Is; the messages that wrap
// them name columns, blocks and sizes but never a value, a key or a record.
var (
	// ErrInvalidLayout is returned when a data owner's rows or values cannot
	// be laid out in union order (row out of range, duplicate row, NaN).
	ErrInvalidLayout = errors.New("upload: invalid layout")
	// ErrInvalidCircuit is returned for a circuit whose columns, multipliers
	// or statistics are inconsistent.
	ErrInvalidCircuit = errors.New("upload: invalid circuit")
	// ErrInvalidConfig is returned by PlanConfig.Validate.
	ErrInvalidConfig = errors.New("upload: invalid plan configuration")
	// ErrInfeasible is returned when no ciphertext level of the parameters
	// gives the requested precision under the requested flooding.
	ErrInfeasible = errors.New("upload: precision target infeasible")
	// ErrInexact is returned by the exact decoders when a product's
	// decrypted error is beyond what an exact plan allows, or the plan is
	// not exact: its value cannot be trusted to be the exact integer.
	ErrInexact = errors.New("upload: sum not recovered exactly")
	// ErrOutOfBounds is returned when a value handed to the uploader or the
	// evaluator lies outside its column's declared bounds; values must be
	// clamped by Layout first, since an overflow would otherwise corrupt the
	// statistic silently.
	ErrOutOfBounds = errors.New("upload: value outside declared bounds")
	// ErrMalformedBlock is returned for upload bytes that do not parse or do
	// not match the plan.
	ErrMalformedBlock = errors.New("upload: malformed upload block")
	// ErrDuplicateBlock is returned when the same (column, block) is
	// encrypted or evaluated twice in one session. Encrypting twice would
	// reuse a common polynomial; evaluating twice would double count.
	ErrDuplicateBlock = errors.New("upload: duplicate block")
	// ErrMissingBlock is returned by Finalize when a block of a column that a
	// statistic uses has not been evaluated.
	ErrMissingBlock = errors.New("upload: missing block")
	// ErrInvalidKey is returned for missing or mismatched key material.
	ErrInvalidKey = errors.New("upload: invalid key material")
	// ErrInvalidSeed is returned for a session seed of the wrong size or
	// obviously not random.
	ErrInvalidSeed = errors.New("upload: invalid session seed")
)
