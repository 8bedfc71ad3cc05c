// Package source reads a data owner's records: a CSV or Parquet file, an
// embedded SQLite database, or PostgreSQL. Whatever the storage, a source
// yields the same per-record rows: the identifiers used for matching
// (e-mail, phone, an organization-issued id), the consent flag, and the numeric or categorical columns
// declared in the node's configuration, each with public bounds [lo, hi].
//
// A source is described by a Config, decoded from a `source "kind" { ... }`
// HCL block, and read with Open, which streams rows with bounded memory:
//
//	rows, err := source.Open(ctx, cfg, source.Options{
//		NormalizeEmail: ident.NormalizeEmail,
//		NormalizePhone: ident.NormalizePhone,
//		NormalizeID:    ident.NormalizeID,
//	})
//	if err != nil { ... }
//	defer rows.Close()
//	for rows.Next() {
//		r := rows.Row() // valid until the next call to Next
//	}
//	if err := rows.Err(); err != nil { ... }
//	st := rows.Stats() // clip counts, digest, ...
//
// Numeric values outside their declared bounds are kept as read and counted
// per column in Stats.Clipped; the caller logs a warning with those counts
// (never the values). Every query clamps them to the bounds, which keeps
// each encrypted aggregate inside the range the HE parameters and the DP
// sensitivity were computed for, and releases how many it clipped.
//
// Every read also computes Stats.Digest, a SHA-256 over the canonical row
// stream, so a node can cache its matching layout per dataset version: the
// same records give the same digest whichever source kind holds them;
// Stats.MatchDigest covers only identifiers and consent, what matching
// depends on.
//
// Raw transactions can be turned into per-customer features in two ways: a
// CSV or Parquet transaction file is aggregated by the node (memory grows
// with the number of customers, not of transactions), and a SQL source
// pushes the aggregation down to the database with a GROUP BY query, so a
// warehouse does the heavy part where the data lives.
//
// A data owner's exclusions are applied with Config.Exclude before the
// source is opened: it checks that every excluded name stands for something
// the source reads, drops the columns named, and refuses a configuration
// that would still read excluded data under another name, through a from
// input, a transactions category or the text of a query.
//
// Errors name the file, the row and the column, never a value: every
// per-record value and identifier is confidential.
package source
