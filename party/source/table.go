package source

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// table is a stream of input records with named columns: a CSV file, a
// Parquet file or a SQL result. The mapper and the aggregator work on any.
type table interface {
	columns() []string
	next() (bool, error)
	cell(i int) cell
	// pos is the current record's position, described by where and at.
	pos() int
	where(pos int) string
	// at describes pos without naming the source ("line 2", "row 2"),
	// for a second position in a message that where has located.
	at(pos int) string
	close() error
}

// typedTable is a table whose column types are known before reading, so a
// mismatch is reported once, up front.
type typedTable interface {
	checkType(i int, want want) error
}

type want int

const (
	wantText want = iota
	wantNumber
	wantBool
)

func (w want) String() string {
	return [...]string{"text", "a number", "a boolean"}[w]
}

type cellKind uint8

const (
	cNull cellKind = iota
	cText
	cFloat
	cInt
	cBool
	cOther
)

// cell is one input value without boxing.
type cell struct {
	k cellKind
	s string
	f float64
	i int64
	b bool
}

func (c cell) text() (string, bool) {
	switch c.k {
	case cText:
		return c.s, true
	case cNull:
		return "", true
	case cInt:
		return strconv.FormatInt(c.i, 10), true
	}
	return "", false
}

func (c cell) number() (float64, string) {
	switch c.k {
	case cFloat:
		return c.f, ""
	case cInt:
		return float64(c.i), ""
	case cText:
		s := strings.TrimSpace(c.s)
		if s == "" {
			return 0, "empty value"
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, "not a number"
		}
		return v, ""
	case cNull:
		return 0, "empty value"
	}
	return 0, "not a number"
}

func (c cell) boolean() (bool, string) {
	switch c.k {
	case cBool:
		return c.b, ""
	case cInt:
		if c.i == 0 || c.i == 1 {
			return c.i == 1, ""
		}
	case cText:
		switch strings.ToLower(strings.TrimSpace(c.s)) {
		case "true", "t", "yes", "y", "1":
			return true, ""
		case "false", "f", "no", "n", "0":
			return false, ""
		case "":
			return false, "empty value"
		}
	case cNull:
		return false, "empty value"
	}
	return false, "not a boolean"
}

func badValue(t interface{ where(int) string }, pos int, col, why string) error {
	return fmt.Errorf("%w: %s: column %q: %s", ErrBadValue, t.where(pos), col, why)
}

// resolve finds the input columns by name.
func resolve(t table, src string, names []string, wants []want) ([]int, error) {
	hdr := t.columns()
	idx := make([]int, len(names))
	for i, n := range names {
		idx[i] = slices.Index(hdr, n)
		if idx[i] < 0 {
			return nil, fmt.Errorf("%w: %s: no column %q", ErrMissingColumn, src, n)
		}
		if tt, ok := t.(typedTable); ok {
			if err := tt.checkType(idx[i], wants[i]); err != nil {
				return nil, err
			}
		}
	}
	return idx, nil
}

// mapper reads one record per customer, with the columns named in cfg.
type mapper struct {
	t      table
	cfg    *Config
	cons   int
	extra  []int  // input column of each of cfg.ExtraConsent
	ids    [3]int // input column of each of idKinds, -1 when not carried
	cols   []int
	levels []map[string]int
}

// rawIDs are the identifier fields of r in the order of idKinds.
func rawIDs(r *raw) [3]*string { return [3]*string{&r.email, &r.phone, &r.id} }

func mapColumns(t table, cfg *Config) (records, error) {
	m := &mapper{t: t, cfg: cfg, ids: [3]int{-1, -1, -1}}
	names := append([]string{cfg.ConsentColumn}, cfg.ExtraConsent...)
	wants := slices.Repeat([]want{wantBool}, len(names))
	var at [3]int // position in names of each carried kind
	for i, k := range idKinds {
		if cfg.HasID(k) {
			at[i] = len(names)
			names, wants = append(names, cfg.IdentifierColumn(k)), append(wants, wantText)
		}
	}
	nid := len(names)
	for _, c := range cfg.Columns {
		names = append(names, c.Input())
		if c.Type == TypeNumeric {
			wants = append(wants, wantNumber)
		} else {
			wants = append(wants, wantText)
		}
	}
	idx, err := resolve(t, cfg.Describe(), names, wants)
	if err != nil {
		return nil, err
	}
	m.cons, m.extra = idx[0], idx[1:1+len(cfg.ExtraConsent)]
	for i, k := range idKinds {
		if cfg.HasID(k) {
			m.ids[i] = idx[at[i]]
		}
	}
	m.cols = idx[nid:]
	m.levels = make([]map[string]int, len(cfg.Columns))
	for i, c := range cfg.Columns {
		if c.Type == TypeCategorical {
			m.levels[i] = map[string]int{}
			for j, l := range c.Levels {
				m.levels[i][l] = j
			}
		}
	}
	return m, nil
}

func (m *mapper) next(r *raw) (bool, error) {
	ok, err := m.t.next()
	if !ok || err != nil {
		return false, err
	}
	pos := m.t.pos()
	r.pos = pos
	var why string
	if r.consent, why = m.t.cell(m.cons).boolean(); why != "" {
		return false, badValue(m.t, pos, m.cfg.ConsentColumn, why)
	}
	for i, col := range m.extra {
		if r.consents[i], why = m.t.cell(col).boolean(); why != "" {
			return false, badValue(m.t, pos, m.cfg.ExtraConsent[i], why)
		}
	}
	for i, dst := range rawIDs(r) {
		*dst = ""
		if m.ids[i] < 0 {
			continue
		}
		var ok bool
		if *dst, ok = m.t.cell(m.ids[i]).text(); !ok {
			return false, badValue(m.t, pos, m.cfg.IdentifierColumn(idKinds[i]), "not text")
		}
	}
	for i, c := range m.cfg.Columns {
		cl := m.t.cell(m.cols[i])
		if c.Type == TypeNumeric {
			if r.values[i], why = cl.number(); why != "" {
				return false, badValue(m.t, pos, c.Input(), why)
			}
			continue
		}
		s, ok := cl.text()
		lv, found := m.levels[i][strings.TrimSpace(s)]
		if !ok || !found {
			return false, badValue(m.t, pos, c.Input(), "not one of the declared levels")
		}
		r.values[i] = float64(lv)
	}
	return true, nil
}

func (m *mapper) where(pos int) string { return m.t.where(pos) }

func (m *mapper) at(pos int) string { return m.t.at(pos) }

func (m *mapper) close() error { return m.t.close() }

// microUnits is the resolution transaction amounts are summed at. Integer
// sums are exact, so the total is the correctly rounded decimal sum and
// equals the value a database computes from the same amounts.
const microUnits = 1e6

// aggregated holds per-customer sums of a transaction file, in customer
// order. Memory is per customer, not per transaction.
type aggregated struct {
	src       string
	ids       []string
	keys      [][3]string // per customer, the identifiers in the order of idKinds
	consent   []bool
	consents  [][]bool // per customer, the flags of cfg.ExtraConsent
	firstLine []int
	sums      []int64 // len(ids) × columns
	ncol      int
	order     []int
	i         int
	t         table
}

func aggregate(ctx context.Context, t table, cfg *Config) (records, error) {
	tx := cfg.Transactions
	names := []string{tx.CustomerColumn, cfg.ConsentColumn, tx.CategoryColumn, tx.AmountColumn}
	wants := []want{wantText, wantBool, wantText, wantNumber}
	keyAt := [3]int{-1, -1, -1}
	for i, k := range idKinds {
		if cfg.HasID(k) {
			keyAt[i] = len(names)
			names, wants = append(names, cfg.IdentifierColumn(k)), append(wants, wantText)
		}
	}
	extraAt := len(names)
	for _, c := range cfg.ExtraConsent {
		names, wants = append(names, c), append(wants, wantBool)
	}
	idx, err := resolve(t, cfg.Describe(), names, wants)
	if err != nil {
		return nil, err
	}
	ncol := len(cfg.Columns)
	extra := make([]bool, len(cfg.ExtraConsent)) // this transaction's flags
	cat := map[string][]int{}                    // a category's columns: two may sum the same one
	for i, c := range cfg.Columns {
		cat[c.Category] = append(cat[c.Category], i)
	}
	a := &aggregated{src: cfg.Describe(), ncol: ncol, t: t}
	byID := map[string]int{}
	for n := 0; ; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		ok, err := t.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		pos := t.pos()
		id, okText := t.cell(idx[0]).text()
		id = strings.TrimSpace(id)
		if !okText || id == "" {
			return nil, badValue(t, pos, tx.CustomerColumn, "empty or not text")
		}
		cons, why := t.cell(idx[1]).boolean()
		if why != "" {
			return nil, badValue(t, pos, cfg.ConsentColumn, why)
		}
		for i, col := range cfg.ExtraConsent {
			if extra[i], why = t.cell(idx[extraAt+i]).boolean(); why != "" {
				return nil, badValue(t, pos, col, why)
			}
		}
		category, _ := t.cell(idx[2]).text()
		amount, why := t.cell(idx[3]).number()
		if why != "" {
			return nil, badValue(t, pos, tx.AmountColumn, why)
		}
		if math.Abs(amount) > 1e12 {
			return nil, badValue(t, pos, tx.AmountColumn, "amount beyond ±10^12")
		}
		var keys [3]string
		for i, at := range keyAt {
			if at >= 0 {
				keys[i], _ = t.cell(idx[at]).text()
			}
		}
		k, seen := byID[id]
		if !seen {
			// Clones: the CSV reader's fields share one string per line,
			// and keeping a field would keep the whole line.
			id = strings.Clone(id)
			for i := range keys {
				keys[i] = strings.Clone(keys[i])
			}
			k = len(a.ids)
			byID[id] = k
			a.ids = append(a.ids, id)
			a.keys = append(a.keys, keys)
			a.consent = append(a.consent, cons)
			a.consents = append(a.consents, slices.Clone(extra))
			a.firstLine = append(a.firstLine, pos)
			a.sums = append(a.sums, make([]int64, ncol)...)
		} else {
			for i := range keys {
				if keys[i] != a.keys[k][i] {
					return nil, fmt.Errorf("%w: %s: column %q differs from the customer's first transaction", ErrInconsistent, t.where(pos), cfg.IdentifierColumn(idKinds[i]))
				}
			}
			// Consent must hold for every transaction, as the SQL
			// push-down's MIN does.
			a.consent[k] = a.consent[k] && cons
			for i, c := range extra {
				a.consents[k][i] = a.consents[k][i] && c
			}
		}
		v := int64(math.Round(amount * microUnits))
		for _, c := range cat[strings.TrimSpace(category)] {
			s := &a.sums[k*ncol+c]
			if (v > 0 && *s > math.MaxInt64-v) || (v < 0 && *s < math.MinInt64-v) {
				return nil, badValue(t, pos, tx.AmountColumn, "sum overflows")
			}
			*s += v
		}
	}
	// Customers come out in the byte order of their id, as the SQL
	// push-down's ORDER BY does, so both give the same rows and digest.
	a.order = make([]int, len(a.ids))
	for i := range a.order {
		a.order[i] = i
	}
	slices.SortFunc(a.order, func(x, y int) int { return strings.Compare(a.ids[x], a.ids[y]) })
	return a, nil
}

func (a *aggregated) next(r *raw) (bool, error) {
	if a.i >= len(a.order) {
		return false, nil
	}
	k := a.order[a.i]
	a.i++
	r.pos = a.firstLine[k]
	r.email, r.phone, r.id, r.consent = a.keys[k][0], a.keys[k][1], a.keys[k][2], a.consent[k]
	copy(r.consents, a.consents[k])
	for c := 0; c < a.ncol; c++ {
		r.values[c] = float64(a.sums[k*a.ncol+c]) / microUnits
	}
	return true, nil
}

func (a *aggregated) where(pos int) string {
	return a.t.where(pos) + " (customer's first transaction)"
}

// at names another customer's record: each customer is one record, so a
// second position in a message is always another customer's.
func (a *aggregated) at(pos int) string {
	return a.t.at(pos) + " (another customer's first transaction)"
}

func (a *aggregated) close() error { return nil }
