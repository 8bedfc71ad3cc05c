package stats

import (
	"fmt"
	"math"
)

// ChiSquareResult is Pearson's chi-square test of independence on a noisy
// r×c table of counts.
type ChiSquareResult struct {
	// Statistic is Σ (O − E)²/E over the kept cells, E = row·col/total.
	Statistic float64
	// DF is (rows kept − 1)·(columns kept − 1).
	DF int
	// P is the upper tail P(χ²_DF ≥ Statistic), as if the table were exact.
	P float64
	// NoiseFactor is the factor by which the DP noise inflates the expected
	// statistic under independence: 1 + σ²·mean(1/E) (1 in exact mode).
	NoiseFactor float64
	// AdjustedStatistic is Statistic/NoiseFactor and AdjustedP its upper
	// tail on DF degrees of freedom; report these when noise is present.
	AdjustedStatistic float64
	AdjustedP         float64
	// Clamped counts the cells whose noisy count was negative and was set to 0.
	Clamped int
	// DroppedRows and DroppedCols count rows and columns left out because
	// their (clamped) total was 0: they carry no information on
	// independence and would divide by zero.
	DroppedRows, DroppedCols int
}

// ChiSquare tests independence of the rows and columns of a table of noisy
// counts, each cell noised with standard deviation cellNoise.
//
// Negative noisy counts are clamped to 0 before anything else: a count
// cannot be negative, and a negative cell would otherwise give negative
// expected counts. Clamping biases small cells upward slightly; tables with
// many clamped cells (see Clamped) are too sparse for the test.
//
// DP noise adds to every cell an independent N(0, σ²) term that the test
// reads as departure from independence, so the plain P is too small. To
// first order (a Rao–Scott style correction) the noise multiplies the
// expected statistic under independence by c = 1 + σ²·mean_ij(1/E_ij); the
// adjusted statistic χ²/c is referred to χ² on the same DF.
func ChiSquare(table [][]float64, cellNoise float64) (ChiSquareResult, error) {
	if err := noiseOK([]string{"cell"}, cellNoise); err != nil {
		return ChiSquareResult{}, fmt.Errorf("chi-square: %w", err)
	}
	if len(table) < 2 || len(table[0]) < 2 {
		return ChiSquareResult{}, fmt.Errorf("chi-square: need at least 2×2: %w", ErrBadTable)
	}
	cols := len(table[0])
	var res ChiSquareResult
	obs := make([][]float64, len(table))
	rowSum := make([]float64, len(table))
	colSum := make([]float64, cols)
	for i, row := range table {
		if len(row) != cols {
			return ChiSquareResult{}, fmt.Errorf("chi-square: row %d has %d cells, want %d: %w", i, len(row), cols, ErrBadTable)
		}
		obs[i] = make([]float64, cols)
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return ChiSquareResult{}, fmt.Errorf("chi-square: cell (%d,%d): %w", i, j, ErrNotFinite)
			}
			if v < 0 {
				v = 0
				res.Clamped++
			}
			obs[i][j] = v
			rowSum[i] += v
			colSum[j] += v
		}
	}
	var keepR, keepC []int
	for i, s := range rowSum {
		if s > 0 {
			keepR = append(keepR, i)
		}
	}
	for j, s := range colSum {
		if s > 0 {
			keepC = append(keepC, j)
		}
	}
	res.DroppedRows = len(rowSum) - len(keepR)
	res.DroppedCols = cols - len(keepC)
	if len(keepR) < 2 || len(keepC) < 2 {
		return ChiSquareResult{}, fmt.Errorf("chi-square: fewer than 2 non-empty rows or columns: %w", ErrBadTable)
	}
	var total float64
	for _, i := range keepR {
		total += rowSum[i]
	}
	var invE float64
	for _, i := range keepR {
		for _, j := range keepC {
			e := rowSum[i] * colSum[j] / total
			d := obs[i][j] - e
			res.Statistic += d * d / e
			invE += 1 / e
		}
	}
	res.DF = (len(keepR) - 1) * (len(keepC) - 1)
	df := float64(res.DF)
	res.P = ChiSquareSF(res.Statistic, df)
	res.NoiseFactor = 1 + cellNoise*cellNoise*invE/float64(len(keepR)*len(keepC))
	res.AdjustedStatistic = res.Statistic / res.NoiseFactor
	res.AdjustedP = ChiSquareSF(res.AdjustedStatistic, df)
	return res, nil
}
