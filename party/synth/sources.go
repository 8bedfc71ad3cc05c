package synth

import (
	"path/filepath"

	"github.com/jointly-dev/jointly/party/source"
)

// RetailerSource is the source configuration that reads the retailer file
// Generate wrote to dir in format: every spend column of the research
// model (Model.Spend), bounded by [0, cap]; ProxyCheckColumns adds the
// others.
// With transactions it reads the raw purchases instead (aggregated by the
// node for files, pushed down to SQLite).
func RetailerSource(dir, format string, transactions bool, m Model) source.Config {
	cfg := source.Config{Kind: format}
	switch {
	case format == FormatSQLite:
		cfg.Path = filepath.Join(dir, "retailer.sqlite")
		cfg.Table = "customers"
	case transactions:
		cfg.Path = filepath.Join(dir, "retailer_transactions."+format)
	default:
		cfg.Path = filepath.Join(dir, "retailer."+format)
	}
	if transactions {
		cfg.Table = ""
		cfg.Transactions = &source.Transactions{}
	}
	for _, c := range m.Spend {
		lo, hi := 0.0, c.Cap
		cfg.Columns = append(cfg.Columns, source.Column{Name: "spend_" + c.Name, Type: source.TypeNumeric, Lo: &lo, Hi: &hi})
	}
	return cfg
}

// MaxClaims bounds each claim count column in InsurerSource; the default
// model's counts stay far below it.
const MaxClaims = 50

// InsurerSource is the source configuration that reads the insurer file
// Generate wrote to dir in format: age band (categorical), exposure in
// months within [0, 12] (its unit declared, so rates come per year), and
// every claim count within [0, MaxClaims].
func InsurerSource(dir, format string, m Model) source.Config {
	cfg := source.Config{Kind: format, Path: filepath.Join(dir, "insurer."+format)}
	if format == FormatSQLite {
		cfg.Table = "policies"
	}
	expLo, expHi := 0.0, 12.0
	cfg.Columns = []source.Column{
		{Name: "age_band", Type: source.TypeCategorical, Levels: m.AgeBands},
		{Name: "exposure_months", Type: source.TypeNumeric, Lo: &expLo, Hi: &expHi, Unit: "months"},
	}
	for _, c := range m.Claims {
		lo, hi := 0.0, float64(MaxClaims)
		cfg.Columns = append(cfg.Columns, source.Column{Name: "claims_" + c.Name, Type: source.TypeNumeric, Lo: &lo, Hi: &hi})
	}
	return cfg
}

// ProxyCheckColumns are the columns planted for the proxy check, to append
// to the Columns of RetailerSource and InsurerSource: the retailer's
// ProxyCheck categories within [0, cap], and the insurer's protected
// column pregnant (categorical, levels PregnantLevels). They carry no
// tags: what is protected is the owner's declaration.
func ProxyCheckColumns(m Model) (retailer, insurer []source.Column) {
	for _, c := range m.ProxyCheck {
		lo, hi := 0.0, c.Cap
		retailer = append(retailer, source.Column{Name: "spend_" + c.Name, Type: source.TypeNumeric, Lo: &lo, Hi: &hi})
	}
	insurer = []source.Column{{Name: "pregnant", Type: source.TypeCategorical, Levels: PregnantLevels}}
	return retailer, insurer
}
