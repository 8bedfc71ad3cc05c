package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/jointly-dev/jointly/party/synth"
)

// newGenCmd is `jointly gen`: the synthetic retailer × insurer world.
func newGenCmd() *cobra.Command {
	o := synth.DefaultOptions()
	cmd := &cobra.Command{
		Use:   "gen",
		Short: "Write a synthetic retailer and insurer dataset with a known ground truth",
		Long: `Write the synthetic world used by the demo, the tests and the benchmarks:
DIR/retailer.<format> (customer_id, email, phone, consent and the annual spend
in dollars for 16 purchase categories), DIR/insurer.<format> (policy_id, email,
phone, consent, age_band, exposure_months and claim counts for 6 claim types)
and DIR/truth.json, which holds the generative model, with its planted effects,
and the exact plaintext statistics over the people on both sides who consented
on both sides.

Identifiers carry realistic formatting noise (e-mail case and surrounding
whitespace, varying phone punctuation and +1 prefixes) that normalization
undoes; about 8% opt out on each side independently. The same seed gives the
same bytes. Files appear only when all of them are complete.`,
		Example: `  jointly gen --out demo-data
  jointly gen --out /tmp/big --customers 1000000 --overlap 0.3 --format sqlite --transactions`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			truth, err := synth.Generate(cmd.Context(), o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			ext := o.Format
			fmt.Fprintf(out, "wrote %s and %s (%d records each)", filepath.Join(o.Dir, "retailer."+ext), filepath.Join(o.Dir, "insurer."+ext), o.Customers)
			if o.Transactions {
				if ext == synth.FormatSQLite {
					fmt.Fprint(out, ", transactions table in retailer.sqlite")
				} else {
					fmt.Fprintf(out, ", %s", filepath.Join(o.Dir, "retailer_transactions."+ext))
				}
			}
			fmt.Fprintf(out, "\nwrote %s: %d people on both sides, %d of them consenting on both\n",
				filepath.Join(o.Dir, "truth.json"), truth.Shared, truth.N)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Dir, "out", o.Dir, "output directory (created if missing)")
	f.IntVar(&o.Customers, "customers", o.Customers, "records on each side")
	f.Float64Var(&o.Overlap, "overlap", o.Overlap, "fraction of each side's records that belong to people on both sides")
	f.Uint64Var(&o.Seed, "seed", o.Seed, "seed; the same seed gives the same bytes")
	f.StringVar(&o.Format, "format", o.Format, "output format: csv, sqlite or parquet")
	f.BoolVar(&o.Transactions, "transactions", false, "also write the retailer's raw transactions")
	return cmd
}
