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
	var clean bool
	cmd := &cobra.Command{
		Use:   "gen",
		Short: "Write a synthetic retailer and insurer dataset with a known ground truth",
		Long: `Write the synthetic world used by the demo, the tests and the benchmarks:
DIR/retailer.<format> (customer_id, email, phone, consent, consent_marketing and
the annual spend in dollars for 18 purchase categories), DIR/insurer.<format>
(policy_id, email, phone, consent, consent_marketing, age_band, pregnant,
exposure_months and claim counts for 6 claim types) and DIR/truth.json, which
holds the generative model, with its planted effects and proxies, how many
people each match rule pairs, and the exact plaintext statistics over the
people on both sides who consented on both sides and whose e-mails agree.

Identifiers carry realistic formatting noise (e-mail case and surrounding
whitespace, varying phone punctuation and +1 prefixes) that normalization
undoes, and noise it cannot undo: by default 15% of the insurer's records hold
another e-mail address of the person (--changed-email) and 10% of the records
on each side have no phone (--missing-phone); --no-id-noise turns both off.
About 8% opt out of research on each side independently. The same options give
the same bytes. Files appear only when all of them are complete.`,
		Example: `  jointly gen --out demo-data
  jointly gen --out /tmp/big --customers 1000000 --overlap 0.3 --format sqlite --transactions
  jointly gen --out /tmp/clean --no-id-noise`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if clean {
				if cmd.Flags().Changed("changed-email") || cmd.Flags().Changed("missing-phone") {
					return usageErrorf("gen: --no-id-noise cannot be combined with --changed-email or --missing-phone")
				}
				o.Noise = synth.Noise{}
			}
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
			fmt.Fprintf(out, "  matching on e-mail pairs %d of them (%s), on e-mail or phone %d (%s); statistics over %s\n",
				truth.Email, share(truth.Email, truth.N), truth.EmailOrPhone, share(truth.EmailOrPhone, truth.N), matchWords(truth.StatisticsOver))
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
	f.Float64Var(&o.Noise.ChangedEmail, "changed-email", o.Noise.ChangedEmail, "share of the insurer's records holding another e-mail address of the person")
	f.Float64Var(&o.Noise.MissingPhone, "missing-phone", o.Noise.MissingPhone, "share of each side's records without a phone number")
	f.BoolVar(&clean, "no-id-noise", false, "no changed e-mails and no missing phones: every shared person's identifiers agree")
	f.StringVar(&o.StatisticsOver, "statistics-over", o.StatisticsOver, "match rule whose pairs truth.json's statistics are over: email, phone or email_or_phone")
	return cmd
}

// share is part/whole as a percentage for the summaries.
func share(part, whole int) string {
	if whole == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f %%", 100*float64(part)/float64(whole))
}

// matchWords names a match rule of synth in prose.
func matchWords(rule string) string {
	switch rule {
	case synth.MatchPhone:
		return "the phone pairs"
	case synth.MatchEmailOrPhone:
		return "the e-mail-or-phone pairs"
	}
	return "the e-mail pairs"
}
