package source

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/maphash"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// Errors. Messages name the source, the row and the column, never a value.
var (
	ErrMissingColumn = errors.New("source: missing column")
	ErrBadValue      = errors.New("source: bad value")
	ErrDuplicateID   = errors.New("source: duplicated identifier")
	ErrEmpty         = errors.New("source: no records")
	ErrMalformed     = errors.New("source: malformed input")
	ErrSchema        = errors.New("source: schema mismatch")
	ErrUnreachable   = errors.New("source: database unreachable")
	ErrInconsistent  = errors.New("source: inconsistent transactions")
)

// Row is one record. Its slices are reused: a Row is valid until the next
// call to Rows.Next.
type Row struct {
	// Index is the record's position in the source, from 0.
	Index int
	// Email, Phone and ID are the identifiers, normalized when Options
	// carry a normalizer; empty when missing or invalid, or when the
	// source does not carry the kind.
	Email, Phone, ID string
	// Consent is the record's consent flag.
	Consent bool
	// Consents are the record's flags of Config.ExtraConsent, in order.
	Consents []bool
	// Values holds one value per Config.Columns entry: the number as read
	// for a numeric column (queries clamp it to the declared bounds), the
	// level index for a categorical one.
	Values []float64
}

// Stats describes a completed read.
type Stats struct {
	// Rows is the number of records read, Consenting those with consent.
	Rows, Consenting int
	// Clipped counts, per column name, the numeric values outside [lo, hi]
	// that every query clips to the bounds. The caller logs a warning.
	Clipped map[string]int
	// Missing and Invalid count, per identifier kind, the records whose
	// identifier was empty or was rejected by the normalizer.
	Missing, Invalid map[IDKind]int
	// Digest is the SHA-256 over the canonical row stream: identifiers,
	// consent and values. It is set once Next has returned false without
	// error.
	Digest [32]byte
	// MatchDigest covers only what private matching depends on: the
	// identifiers and consent of each row, in order. A matching layout
	// cached under it survives changes to the values.
	MatchDigest [32]byte
}

// Warn logs what a read had to repair or skip: clipped values per column
// and missing or invalid identifiers, as counts. The node calls it after
// every full read. Identifiers of kinds other than matchOn, which no
// matching uses, are logged at debug level only.
func (s Stats) Warn(logger hclog.Logger, src string, matchOn ...IDKind) {
	for _, col := range slices.Sorted(maps.Keys(s.Clipped)) {
		logger.Warn("values outside the declared bounds; queries clip them to the bounds", "source", src, "column", col, "count", s.Clipped[col])
	}
	level := func(k IDKind) hclog.Level {
		if slices.Contains(matchOn, k) {
			return hclog.Warn
		}
		return hclog.Debug
	}
	for _, k := range slices.Sorted(maps.Keys(s.Missing)) {
		logger.Log(level(k), "records without identifier", "source", src, "identifier", string(k), "count", s.Missing[k])
	}
	for _, k := range slices.Sorted(maps.Keys(s.Invalid)) {
		logger.Log(level(k), "records with an invalid identifier", "source", src, "identifier", string(k), "count", s.Invalid[k])
	}
}

// Identifier is the row's identifier of kind k ("" for a kind the row
// does not hold).
func (r *Row) Identifier(k IDKind) string {
	switch k {
	case Email:
		return r.Email
	case Phone:
		return r.Phone
	case ID:
		return r.ID
	}
	return ""
}

// DigestHex is Digest in hexadecimal.
func (s Stats) DigestHex() string { return hex.EncodeToString(s.Digest[:]) }

// Options are the parts of a read that are code, not configuration.
type Options struct {
	// NormalizeEmail, NormalizePhone and NormalizeID canonicalize
	// identifiers before the duplicate check; a node passes
	// ident.NormalizeEmail, ident.NormalizePhone and ident.NormalizeID.
	// When nil, the value is only trimmed.
	NormalizeEmail func(string) (string, error)
	NormalizePhone func(s, region string) (string, error)
	NormalizeID    func(string) (string, error)
}

// Rows streams the records of one read.
type Rows interface {
	// Next advances to the next record and reports whether there is one.
	Next() bool
	// Row is the current record, valid until the next call to Next.
	Row() *Row
	// Err is the error that ended the read, if any.
	Err() error
	// Stats is complete once Next has returned false.
	Stats() Stats
	// Close releases the file or connection.
	Close() error
}

// Open validates cfg and starts reading the source it names.
func Open(ctx context.Context, cfg Config, opts Options) (Rows, error) {
	// Validate fills defaults; work on a copy so that the caller's config,
	// possibly shared by concurrent reads, is left alone.
	cfg.Columns = slices.Clone(cfg.Columns)
	cfg.Identifiers = slices.Clone(cfg.Identifiers)
	cfg.ExtraConsent = slices.Clone(cfg.ExtraConsent)
	if cfg.Transactions != nil {
		tx := *cfg.Transactions
		cfg.Transactions = &tx
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var (
		t   table
		err error
	)
	switch cfg.Kind {
	case KindCSV:
		t, err = openCSV(cfg.Path)
	case KindParquet:
		t, err = openParquet(cfg.Path)
	case KindSQLite, KindPostgres:
		t, err = openSQL(ctx, &cfg)
	}
	if err != nil {
		return nil, err
	}
	var recs records
	if cfg.Transactions != nil && (cfg.Kind == KindCSV || cfg.Kind == KindParquet) {
		// The aggregate is in memory: the file can go now.
		recs, err = aggregate(ctx, t, &cfg)
		t.close()
	} else if recs, err = mapColumns(t, &cfg); err != nil {
		t.close()
	}
	if err != nil {
		return nil, err
	}
	return newChecker(ctx, &cfg, opts, recs), nil
}

// Scan reads the whole source, calling fn for each row.
func Scan(ctx context.Context, cfg Config, opts Options, fn func(*Row) error) (Stats, error) {
	rows, err := Open(ctx, cfg, opts)
	if err != nil {
		return Stats{}, err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Row()); err != nil {
			return rows.Stats(), err
		}
	}
	return rows.Stats(), rows.Err()
}

// raw is one record before normalization, clipping and the checks.
type raw struct {
	email, phone, id string
	consent          bool
	consents         []bool // of Config.ExtraConsent
	values           []float64
	// pos locates the record for error messages (see records.where).
	pos int
}

// records yields raw records; next returns false at the end.
type records interface {
	next(r *raw) (bool, error)
	// where describes position pos: "retailer.csv line 12".
	where(pos int) string
	// at describes pos without the source: "line 12".
	at(pos int) string
	close() error
}

// checker turns raw records into Rows: it normalizes identifiers, clips
// numeric values, rejects duplicates and computes the digest.
type checker struct {
	ctx  context.Context
	cfg  *Config
	opts Options
	src  records

	row   Row
	raw   raw
	stats Stats
	err   error
	done  bool

	seed  maphash.Seed
	seen  map[IDKind]map[[2]uint64]int
	hash  hash.Hash
	match hash.Hash
	buf   []byte
	email bool
	phone bool
	id    bool
}

func newChecker(ctx context.Context, cfg *Config, opts Options, src records) *checker {
	c := &checker{
		ctx: ctx, cfg: cfg, opts: opts, src: src,
		seed:  maphash.MakeSeed(),
		seen:  map[IDKind]map[[2]uint64]int{},
		hash:  sha256.New(),
		match: sha256.New(),
		email: cfg.HasID(Email),
		phone: cfg.HasID(Phone),
		id:    cfg.HasID(ID),
	}
	c.stats.Clipped = map[string]int{}
	c.stats.Missing = map[IDKind]int{}
	c.stats.Invalid = map[IDKind]int{}
	c.row.Values = make([]float64, len(cfg.Columns))
	c.raw.values = make([]float64, len(cfg.Columns))
	c.row.Consents = make([]bool, len(cfg.ExtraConsent))
	c.raw.consents = make([]bool, len(cfg.ExtraConsent))
	for _, k := range cfg.Identifiers {
		c.seen[IDKind(k)] = map[[2]uint64]int{}
	}
	c.writeHeader()
	c.row.Index = -1
	return c
}

// Digest layout: a header naming each identifier kind the source carries
// and each column, its type and levels, then per row the length-prefixed
// identifiers, one consent byte and each value as a big-endian IEEE-754
// double. Row order is part of the digest. A row always holds the e-mail
// and the phone (empty when the source does not carry them), and the id
// only when the source carries it, so that the digests of sources without
// ids are those they had before the id kind.
func (c *checker) writeHeader() {
	c.buf = append(c.buf[:0], "jointly-source-v1\n"...)
	for _, k := range c.cfg.Identifiers {
		c.buf = append(c.buf, "id "+k+"\n"...)
	}
	c.match.Write(c.buf)
	for _, col := range c.cfg.Columns {
		c.buf = append(c.buf, "column "+col.Name+" "+col.Type...)
		for _, l := range col.Levels {
			c.buf = binary.AppendUvarint(append(c.buf, ' '), uint64(len(l)))
			c.buf = append(c.buf, l...)
		}
		c.buf = append(c.buf, '\n')
	}
	c.hash.Write(c.buf)
}

func (c *checker) Next() bool {
	if c.done {
		return false
	}
	if c.err = c.ctx.Err(); c.err == nil {
		var ok bool
		ok, c.err = c.src.next(&c.raw)
		if ok && c.err == nil {
			c.err = c.accept()
			if c.err == nil {
				return true
			}
		}
	}
	c.done = true
	if c.err == nil {
		if c.stats.Rows == 0 {
			c.err = fmt.Errorf("%w: %s", ErrEmpty, c.cfg.Describe())
		} else {
			c.hash.Sum(c.stats.Digest[:0])
			c.match.Sum(c.stats.MatchDigest[:0])
		}
	}
	return false
}

func (c *checker) accept() error {
	r, in := &c.row, &c.raw
	r.Index++
	r.Consent = in.consent
	copy(r.Consents, in.consents)
	var err error
	r.Email, err = c.identifier(Email, c.email, in.email, in.pos)
	if err != nil {
		return err
	}
	r.Phone, err = c.identifier(Phone, c.phone, in.phone, in.pos)
	if err != nil {
		return err
	}
	r.ID, err = c.identifier(ID, c.id, in.id, in.pos)
	if err != nil {
		return err
	}
	for i, col := range c.cfg.Columns {
		v := in.values[i]
		if col.Type == TypeNumeric {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%w: %s: column %q: not a finite number", ErrBadValue, c.src.where(in.pos), col.Input())
			}
			if col.Step != nil && !OnGrid(v, *col.Step) {
				return fmt.Errorf("%w: %s: column %q: not a multiple of the column's step %g", ErrBadValue, c.src.where(in.pos), col.Input(), *col.Step)
			}
			// The value is kept as read: every query clamps it to the
			// column's bounds and counts it as clipped (aggregate), so the
			// result can say how many values its bounds cut.
			if (col.Lo != nil && v < *col.Lo) || (col.Hi != nil && v > *col.Hi) {
				c.stats.Clipped[col.Name]++
			}
		}
		r.Values[i] = v
	}
	c.stats.Rows++
	if r.Consent {
		c.stats.Consenting++
	}

	b := c.buf[:0]
	b = binary.AppendUvarint(b, uint64(len(r.Email)))
	b = append(b, r.Email...)
	b = binary.AppendUvarint(b, uint64(len(r.Phone)))
	b = append(b, r.Phone...)
	if c.id {
		b = binary.AppendUvarint(b, uint64(len(r.ID)))
		b = append(b, r.ID...)
	}
	if r.Consent {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	c.match.Write(b)
	for _, v := range r.Values {
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(v))
	}
	c.buf = b
	c.hash.Write(b)
	return nil
}

// identifier normalizes one identifier and records it for the duplicate
// check. Two 64-bit keyed hashes stand for the value, so the check needs 16
// bytes per record and keeps no identifier in memory. What a hash maps to
// is the record's position, so that a duplicate names where the first
// occurrence is in the file's own terms (a line, a row).
func (c *checker) identifier(k IDKind, on bool, s string, pos int) (string, error) {
	if !on {
		return "", nil
	}
	s = strings.TrimSpace(s)
	if s == "" {
		c.stats.Missing[k]++
		return "", nil
	}
	var err error
	switch {
	case k == Email && c.opts.NormalizeEmail != nil:
		s, err = c.opts.NormalizeEmail(s)
	case k == Phone && c.opts.NormalizePhone != nil:
		s, err = c.opts.NormalizePhone(s, c.cfg.PhoneRegion)
	case k == ID && c.opts.NormalizeID != nil:
		s, err = c.opts.NormalizeID(s)
	}
	if err != nil || s == "" {
		// The normalizer's message may quote the value; it is dropped.
		c.stats.Invalid[k]++
		return "", nil
	}
	key := [2]uint64{maphash.String(c.seed, s), maphash.String(c.seed, "\x00"+s)}
	seen := c.seen[k]
	if first, dup := seen[key]; dup {
		return "", fmt.Errorf("%w: %s: column %q: same %s as %s", ErrDuplicateID, c.src.where(pos), c.cfg.IdentifierColumn(k), k, c.src.at(first))
	}
	seen[key] = pos
	return s, nil
}

func (c *checker) Row() *Row { return &c.row }

func (c *checker) Err() error { return c.err }

func (c *checker) Stats() Stats { return c.stats }

func (c *checker) Close() error {
	c.done = true
	return c.src.close()
}
