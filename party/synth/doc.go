// Package synth generates the synthetic retailer × insurer world behind
// `jointly gen`: a retailer's annual spend per purchase category and an
// insurer's claim counts per claim type for overlapping populations, with
// planted effects of known size and confounding by age band, so every
// statistic the engine computes has a ground truth.
//
// Generate writes retailer.<ext> and insurer.<ext> (csv, sqlite or
// parquet), optionally the retailer's raw transactions, and truth.json,
// which holds the model and the exact plaintext statistics over the
// consenting intersection. Output is a pure function of the options: the
// same seed gives the same bytes. Every person's traits come from a PCG
// stream keyed by the seed and the person's number, so the two sides are
// generated independently, streaming, without holding either in memory.
//
// Identifiers carry the noise real data has and normalization must undo:
// e-mail case and surrounding whitespace, and US phone numbers written with
// varying punctuation, spacing and an optional +1 prefix. Options.Noise
// adds what normalization cannot undo: insurer records holding another
// e-mail address of the person, and records without a phone; truth.json
// counts the pairs each match rule finds (e-mail, phone, e-mail or phone)
// and takes its statistics over the pairs of one of them.
//
// Beyond the research model, each side has a consent to marketing, and the
// world plants what an anti-discrimination proxy check must find: the
// insurer's protected column pregnant, a retailer column that stands in for
// it (spend_prenatal) and one unrelated to any protected column
// (spend_stationery), with their true associations in truth.json.
//
// The generator uses math/rand/v2: this is test data, not secrets.
package synth
