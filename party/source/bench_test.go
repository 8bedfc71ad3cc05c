package source_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/jointly-dev/jointly/party/source"
	"github.com/jointly-dev/jointly/party/synth"
)

// BenchmarkRead measures a full read of the retailer side (16 numeric
// columns, both identifiers, duplicate check and digest) per source kind
// and layout.
//
//	go test ./party/source -run '^$' -bench Read -benchtime 3x
func BenchmarkRead(b *testing.B) {
	const n = 100_000
	dirs := map[string]string{}
	for _, f := range []string{synth.FormatCSV, synth.FormatParquet, synth.FormatSQLite} {
		d := b.TempDir()
		if _, err := synth.Generate(context.Background(), synth.Options{Dir: d, Customers: n, Seed: 3, Format: f, Transactions: true}); err != nil {
			b.Fatal(err)
		}
		dirs[f] = d
	}
	tx := func() *source.Transactions { return &source.Transactions{} }
	for _, c := range []struct {
		name string
		cfg  source.Config
	}{
		{"kind=csv", source.Config{Kind: "csv", Path: filepath.Join(dirs["csv"], "retailer.csv")}},
		{"kind=parquet", source.Config{Kind: "parquet", Path: filepath.Join(dirs["parquet"], "retailer.parquet")}},
		{"kind=sqlite", source.Config{Kind: "sqlite", Path: filepath.Join(dirs["sqlite"], "retailer.sqlite"), Table: "customers"}},
		{"kind=csv/layout=transactions", source.Config{Kind: "csv", Path: filepath.Join(dirs["csv"], "retailer_transactions.csv"), Transactions: tx()}},
		{"kind=sqlite/layout=pushdown", source.Config{Kind: "sqlite", Path: filepath.Join(dirs["sqlite"], "retailer.sqlite"), Transactions: tx()}},
	} {
		b.Run(fmt.Sprintf("%s/customers=%d", c.name, n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				cfg := c.cfg
				cfg.Columns = retailerColumns()
				if cfg.Transactions != nil {
					cfg.Transactions = tx()
				}
				st, err := source.Scan(context.Background(), cfg, opts, func(*source.Row) error { return nil })
				if err != nil || st.Rows != n {
					b.Fatalf("rows %d, err %v", st.Rows, err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "customers/s")
		})
	}
}
