package main

import (
	"testing"

	"github.com/jointly-dev/jointly/aggregate"
)

func TestCellText(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cell      aggregate.Cell
		group     bool
		value, ci string
	}{
		{"r", aggregate.Cell{Statistic: aggregate.CellPearson, Value: 0.24912, CILow: 0.1634, CIHigh: 0.3311}, false, "0.249", "[0.163, 0.331]"},
		{"r negative zero", aggregate.Cell{Statistic: aggregate.CellPearson, Value: -0.0002, CILow: -0.05, CIHigh: 0.05}, false, "0.000", "[-0.050, 0.050]"},
		{"count", aggregate.Cell{Statistic: aggregate.CellCount, Value: 333885.4, CILow: 333860, CIHigh: 333910}, true, "333\u202f885", "[333\u202f860, 333\u202f910]"},
		{"count terminal", aggregate.Cell{Statistic: aggregate.CellCount, Value: 333885.4, CILow: 333860, CIHigh: 333910}, false, "333885", "[333860, 333910]"},
		{"variance rounded to its interval", aggregate.Cell{Statistic: aggregate.CellVariance, Value: 333885.27, CILow: 322190.4, CIHigh: 349464.9}, true, "334\u202f000", "[322\u202f000, 349\u202f000]"},
		{"rate", aggregate.Cell{Statistic: aggregate.CellRate, Value: 0.019652, CILow: 0.018781, CIHigh: 0.020573}, false, "0.01965", "[0.01878, 0.02057]"},
		{"tiny coefficient", aggregate.Cell{Statistic: aggregate.CellOLSCoef, Value: -6.42083e-05, CILow: -7.0712e-05, CIHigh: -5.7703e-05}, false, "-6.42e-05", "[-7.07e-05, -5.77e-05]"},
		{"relative risk", aggregate.Cell{Statistic: aggregate.CellRelativeRisk, Value: 2.6873, CILow: 2.5101, CIHigh: 2.8702}, false, "2.69", "[2.51, 2.87]"},
		{"reference risk", aggregate.Cell{Statistic: aggregate.CellRelativeRisk, Value: 1, CILow: 1, CIHigh: 1}, false, "1.00", "[1.00, 1.00]"},
		{"huge", aggregate.Cell{Statistic: aggregate.CellVariance, Value: 5.2345e8, CILow: 0, CIHigh: 1.2e45}, false, "520000000", "[0, 1.20e+45]"},
		{"rate swamped by its interval", aggregate.Cell{Statistic: aggregate.CellRate, Value: 0.0034, CILow: 0.00001, CIHigh: 11.3}, false, "0.0034", "[0.0, 11.3]"},
		{"r2", aggregate.Cell{Statistic: aggregate.CellR2, Value: 0.08123}, false, "0.081", ""},
		{"chi2", aggregate.Cell{Statistic: aggregate.CellChiSquare, Value: 12.3456, P: 0.002}, false, "12.35", ""},
		{"suppressed", aggregate.Cell{Statistic: aggregate.CellMean, Suppressed: true, Reason: "noisy count below min_group_size"}, false, "", ""},
		// A noisy clipped share is printed within [0, 1], in the decimals of
		// its interval, however small the share.
		{"clipped below 0", aggregate.Cell{Statistic: aggregate.CellClipped, Value: -0.044, CILow: -0.139, CIHigh: 0.051}, false, "0.000", "[0.000, 0.051]"},
		{"clipped tiny", aggregate.Cell{Statistic: aggregate.CellClipped, Value: 5.13e-08, CILow: -0.0105, CIHigh: 0.0105}, false, "0.0000", "[0.0000, 0.0105]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, ci := cellText(&tc.cell, tc.group)
			if v != tc.value || ci != tc.ci {
				t.Errorf("cellText = %q %q, want %q %q", v, ci, tc.value, tc.ci)
			}
		})
	}
}

func TestNumberTexts(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{noiseText(6123.4, false), "6100"},
		{noiseText(0.0024391, false), "0.0024"},
		{noiseText(0, false), "0"},
		{noiseText(2.4e-7, false), "2.40e-07"},
		{pLabel(0.0004), "p < 0.001"},
		{pLabel(0.04567), "p = 0.0457"},
		{countText(15968.2, true), "15\u202f968"},
		{countText(5340, true), "5340"},
		{countText(-21.4, false), "-21"},
		{percent(0.018, 2), "1.8"},
		{percent(0.003, 2), "0.3"},
		{percent(0.12345, 2), "12"},
		{percent(5.1e-8, 2), "< 0.001"},
		{percent(-0.02, 2), "0"},
		{percent(1.3, 2), "100"},
		{percent(0.0012345, 3), "0.123"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
