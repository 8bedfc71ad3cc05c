package source

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/jointly-dev/jointly/crypto/dp"
	"github.com/jointly-dev/jointly/party/ident"
)

// Kinds of source.
const (
	KindCSV      = "csv"
	KindParquet  = "parquet"
	KindSQLite   = "sqlite"
	KindPostgres = "postgres"
)

// Column types.
const (
	TypeNumeric     = "numeric"
	TypeCategorical = "categorical"
)

// IDKind names an identifier used for matching: the kinds of package
// ident, whose normalizers a reader passes in Options.
type IDKind = ident.Kind

// Identifier kinds.
const (
	Email = ident.KindEmail
	Phone = ident.KindPhone
	// ID is an organization-issued identifier both data owners hold: a
	// loyalty-card or policy number, or an agreed hash of a national id.
	ID = ident.KindID
)

// idKinds are the identifier kinds in the order a row and its digest hold
// them.
var idKinds = []IDKind{Email, Phone, ID}

// Config describes one source. It is decoded from a block such as
//
//	source "csv" {
//	  path = "data/retailer.csv"
//	  column "spend_alcohol" {
//	    type = "numeric"
//	    lo   = 0
//	    hi   = 5000
//	  }
//	}
//
// Call Validate before use; it fills defaults.
type Config struct {
	// Kind is the block label: "csv", "parquet", "sqlite" or "postgres".
	Kind string `hcl:"kind,label"`

	// Path is the file for csv, parquet and sqlite.
	Path string `hcl:"path,optional"`
	// DSN is the PostgreSQL connection string (URL or key=value form). A
	// password is better given in PGPASSWORD or ~/.pgpass than in the file.
	DSN string `hcl:"dsn,optional"`

	// Table is read as `SELECT * FROM table` by SQL sources.
	Table string `hcl:"table,optional"`
	// Query is the SQL that yields one row per customer (SQL sources). It
	// is where transactions are aggregated inside the database.
	Query string `hcl:"query,optional"`

	// Identifiers lists the identifier kinds the source carries: "email",
	// "phone" and "id"; default "email" and "phone". Each is checked for
	// duplicates.
	Identifiers []string `hcl:"identifiers,optional"`
	// EmailColumn, PhoneColumn, IDColumn and ConsentColumn name the input
	// columns; defaults "email", "phone", "id" and "consent".
	EmailColumn   string `hcl:"email_column,optional"`
	PhoneColumn   string `hcl:"phone_column,optional"`
	IDColumn      string `hcl:"id_column,optional"`
	ConsentColumn string `hcl:"consent_column,optional"`
	// ExtraConsent names further consent flags to read beside
	// ConsentColumn (a node's consent per purpose), in one pass: each Row
	// carries them in Consents, in this order. Set by the reader, not in
	// the source block; with transactions, each must hold on every
	// transaction of the customer, as the consent column must.
	ExtraConsent []string
	// PhoneRegion is the region assumed for phone numbers written without
	// a country code (ISO 3166 code, default "US").
	PhoneRegion string `hcl:"phone_region,optional"`

	// Transactions, when present, says the input holds one row per
	// purchase, to be summed per customer into the declared columns.
	Transactions *Transactions `hcl:"transactions,block"`

	// Columns are the values a query may use, in this order in Row.Values.
	Columns []Column `hcl:"column,block"`

	// excluded are the columns Exclude removed, so that applying the same
	// exclusions again still knows their names.
	excluded []Column
}

// Transactions maps a raw transaction table. Each numeric column becomes
// the sum of the amounts of the customer's transactions in its category.
type Transactions struct {
	// CustomerColumn groups the transactions; default "customer_id".
	CustomerColumn string `hcl:"customer_column,optional"`
	// CategoryColumn and AmountColumn default to "category" and "amount".
	CategoryColumn string `hcl:"category_column,optional"`
	AmountColumn   string `hcl:"amount_column,optional"`
	// Table is the transaction table a SQL source aggregates with a
	// generated GROUP BY query (default "transactions"). Ignored by files.
	Table string `hcl:"table,optional"`
}

// Column declares one value column.
type Column struct {
	// Name is the block label, the name queries use.
	Name string `hcl:"name,label"`
	// Type is "numeric" or "categorical".
	Type string `hcl:"type"`
	// Lo and Hi bound a numeric column; values outside are clipped. They
	// are public and set the DP sensitivity. A column with AutoBounds
	// leaves hi out (and lo too, to have both estimated).
	Lo *float64 `hcl:"lo,optional"`
	Hi *float64 `hcl:"hi,optional"`
	// AutoBounds, when present, has the node estimate the bounds it leaves
	// out from the data, with differential privacy, once.
	AutoBounds *AutoBounds `hcl:"auto_bounds,block"`
	// Step, optional, is a numeric column's resolution: every value is a
	// multiple of it (0.01 for cents, 1 for counts), and so are lo and hi.
	// A value between two multiples is an input error. Queries encode the
	// column as exact integers on this grid; without it they use a
	// power-of-two grid over [lo, hi].
	Step *float64 `hcl:"step,optional"`
	// Levels are a categorical column's values; Row.Values holds the index
	// of the level.
	Levels []string `hcl:"levels,optional"`
	// Unit is the unit of a numeric column's values, public like the
	// bounds: "months" for an exposure makes rates by it per year (or per
	// the time unit a query asks); any other word labels them.
	Unit string `hcl:"unit,optional"`
	// From is the input column when it differs from Name.
	From string `hcl:"from,optional"`
	// Category is the transaction category summed into this column when
	// the source reads transactions; default Name without a "spend_" prefix.
	Category string `hcl:"category,optional"`
	// Tags label what the column is, for the policy's rules: "protected",
	// "health", "proxy:pregnancy" (see CheckTags).
	Tags []string `hcl:"tags,optional"`
}

// AutoBounds asks the node to estimate a numeric column's bounds from
// its data with a differentially private quantile, instead of the owner
// guessing them:
//
//	column "spend_alcohol" {
//	  type = "numeric"
//	  lo   = 0              # optional: a known floor; then only hi is estimated
//	  auto_bounds {
//	    within   = [0, 1e9] # the public range the data surely lies in
//	    epsilon  = 0.1      # default 0.1, charged to the owner's own budget
//	    quantile = 0.98     # default 0.98: hi near this quantile, lo near 1 − it
//	  }
//	}
//
// The estimate becomes the column's public bounds, as declared ones are.
type AutoBounds struct {
	// Within is [a, b], the range the estimate is chosen in: a public
	// guess, as generous as need be, that surely holds the data. It must
	// not depend on the data.
	Within []float64 `hcl:"within"`
	// Epsilon is what the estimate costs, split evenly between lo and hi
	// when both are estimated (default DefaultAutoEpsilon).
	Epsilon float64 `hcl:"epsilon,optional"`
	// Quantile is the quantile hi estimates, 1 − Quantile the one lo
	// estimates (default DefaultAutoQuantile).
	Quantile float64 `hcl:"quantile,optional"`
}

// Defaults of an auto_bounds block: at ε = 0.1 the 0.98 quantile lands
// between the 90th and 99.9th percentiles of 10,000 heavy-tailed values
// in 99.5 % of runs (docs/privacy.md, "Automatic bounds"), where the 0.99
// quantile, too close to the top, lands above the 99.9th in a quarter.
const (
	DefaultAutoEpsilon  = 0.1
	DefaultAutoQuantile = 0.98
	// MaxAutoEpsilon is the largest ε an estimate may spend.
	MaxAutoEpsilon = 10
	// MaxAutoWithin bounds |a| and |b| of within: beyond, a float64 holds
	// too few digits for the steps of a sum.
	MaxAutoWithin = 1e15
)

// EstimatesLo reports whether the node estimates the column's lo (not
// only its hi).
func (c Column) EstimatesLo() bool { return c.AutoBounds != nil && c.Lo == nil }

// Input is the name of the input column the column is read from.
func (c Column) Input() string {
	if c.From != "" {
		return c.From
	}
	return c.Name
}

// ErrConfig is returned for an invalid source configuration.
var ErrConfig = errors.New("source: invalid config")

var (
	nameRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	tableRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)
	regionRE = regexp.MustCompile(`^[A-Z]{2}$`)
	unitRE   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9 _-]{0,31}$`)
)

// MaxLevels and MaxLevelBytes bound a categorical column's levels: their
// names travel with every query that names the column.
const (
	MaxLevels     = 1024
	MaxLevelBytes = 128
)

// ConfigError is a setting Validate rejects. errors.Is(err, ErrConfig)
// holds for it.
type ConfigError struct {
	// Field is the setting's path, such as "source.csv.column.spend.step".
	Field string
	// Reason says what is wrong, with the configured values where they
	// help: configuration is not data, so it may be shown.
	Reason string
}

// Error leaves out the "source: " of ErrConfig: Field starts with the
// source block already, and a node's configuration error names that block
// before it, so the prefix would only say "source" twice.
func (e *ConfigError) Error() string { return "invalid config: " + e.Field + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrConfig) hold.
func (e *ConfigError) Unwrap() error { return ErrConfig }

func configErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Validate fills defaults and rejects a bad configuration with an error
// naming the field.
func (c *Config) Validate() error {
	switch c.Kind {
	case KindCSV, KindParquet, KindSQLite:
		if c.Path == "" {
			return configErr("source."+c.Kind+".path", "required")
		}
	case KindPostgres:
		if c.DSN == "" {
			return configErr("source.postgres.dsn", "required")
		}
	default:
		return configErr("source", "kind %q is not one of csv, parquet, sqlite, postgres", c.Kind)
	}
	pre := "source." + c.Kind + "."
	sql := c.Kind == KindSQLite || c.Kind == KindPostgres
	if !sql && (c.Table != "" || c.Query != "") {
		return configErr(pre+"query", "only SQL sources take table or query")
	}
	if c.Kind != KindPostgres && c.DSN != "" {
		return configErr(pre+"dsn", "only postgres takes a dsn")
	}
	if c.Table != "" && c.Query != "" {
		return configErr(pre+"table", "give table or query, not both")
	}
	if c.Table != "" && !tableRE.MatchString(c.Table) {
		return configErr(pre+"table", "%q is not a table name (name or schema.name)", c.Table)
	}
	if sql && c.Table == "" && c.Query == "" && c.Transactions == nil {
		return configErr(pre+"query", "a SQL source needs table, query or a transactions block")
	}
	if c.Transactions != nil && c.Query != "" {
		return configErr(pre+"transactions", "a transactions block generates the query; remove query")
	}
	if c.Transactions != nil && c.Table != "" {
		return configErr(pre+"transactions", "set the transaction table inside the transactions block")
	}

	if len(c.Identifiers) == 0 {
		c.Identifiers = []string{string(Email), string(Phone)}
	}
	seen := map[string]bool{}
	for _, k := range c.Identifiers {
		if !slices.Contains(idKinds, IDKind(k)) {
			return configErr(pre+"identifiers", "%q is not email, phone or id", k)
		}
		if seen[k] {
			return configErr(pre+"identifiers", "%q listed twice", k)
		}
		seen[k] = true
	}
	defaults := []struct {
		p     *string
		def   string
		field string
	}{
		{&c.EmailColumn, "email", "email_column"},
		{&c.PhoneColumn, "phone", "phone_column"},
		{&c.IDColumn, "id", "id_column"},
		{&c.ConsentColumn, "consent", "consent_column"},
	}
	for _, d := range defaults {
		if *d.p == "" {
			*d.p = d.def
		}
	}
	for i, col := range c.ExtraConsent {
		if col == "" || col == c.ConsentColumn || slices.Contains(c.ExtraConsent[:i], col) {
			return configErr(pre+"consent", "further consent column %q is empty, the consent column or listed twice", col)
		}
	}
	if c.PhoneRegion == "" {
		c.PhoneRegion = "US"
	}
	if !regionRE.MatchString(c.PhoneRegion) {
		return configErr(pre+"phone_region", "%q is not a two-letter region code", c.PhoneRegion)
	}

	if t := c.Transactions; t != nil {
		if t.CustomerColumn == "" {
			t.CustomerColumn = "customer_id"
		}
		if t.CategoryColumn == "" {
			t.CategoryColumn = "category"
		}
		if t.AmountColumn == "" {
			t.AmountColumn = "amount"
		}
		if t.Table == "" {
			t.Table = "transactions"
		}
		if sql {
			for f, v := range map[string]string{
				"customer_column": t.CustomerColumn, "category_column": t.CategoryColumn,
				"amount_column": t.AmountColumn,
				"email_column":  c.EmailColumn, "phone_column": c.PhoneColumn,
				"id_column": c.IDColumn, "consent_column": c.ConsentColumn,
			} {
				if !nameRE.MatchString(v) {
					return configErr(pre+"transactions."+f, "%q is not a plain SQL name", v)
				}
			}
			if !tableRE.MatchString(t.Table) {
				return configErr(pre+"transactions.table", "%q is not a table name (name or schema.name)", t.Table)
			}
		}
	}

	if len(c.Columns) == 0 {
		return configErr(pre+"column", "at least one column is required")
	}
	names := map[string]bool{}
	for i := range c.Columns {
		col := &c.Columns[i]
		f := pre + "column." + col.Name
		if !nameRE.MatchString(col.Name) {
			return configErr(pre+"column", "name %q must be letters, digits and underscores", col.Name)
		}
		if names[col.Name] {
			return configErr(f, "declared twice")
		}
		names[col.Name] = true
		switch col.Type {
		case TypeNumeric:
			if col.AutoBounds != nil {
				if err := col.validateAuto(f); err != nil {
					return err
				}
			} else if err := col.validateBounds(f); err != nil {
				return err
			}
			if len(col.Levels) != 0 {
				return configErr(f+".levels", "only categorical columns have levels")
			}
			if col.Unit != "" && !unitRE.MatchString(col.Unit) {
				return configErr(f+".unit", "%q must be a word of up to 32 letters, digits, spaces, _ or -, such as \"months\"", col.Unit)
			}
		case TypeCategorical:
			if len(col.Levels) < 2 || len(col.Levels) > MaxLevels {
				return configErr(f+".levels", "a categorical column needs 2 to %d levels", MaxLevels)
			}
			lv := map[string]bool{}
			for _, l := range col.Levels {
				if lv[l] {
					return configErr(f+".levels", "level %q listed twice", l)
				}
				if l == "" || len(l) > MaxLevelBytes {
					return configErr(f+".levels", "level names must have 1 to %d bytes", MaxLevelBytes)
				}
				lv[l] = true
			}
			if col.Unit != "" {
				return configErr(f+".unit", "only numeric columns have a unit")
			}
			if col.Lo != nil || col.Hi != nil || col.Step != nil || col.AutoBounds != nil {
				return configErr(f, "categorical columns take levels, not lo, hi, step or auto_bounds")
			}
			if c.Transactions != nil {
				return configErr(f, "a transactions source only yields numeric sums")
			}
		default:
			return configErr(f+".type", "%q is not numeric or categorical", col.Type)
		}
		if err := CheckTags(col.Tags); err != nil {
			return configErr(f+".tags", "%v", err)
		}
		if col.Category != "" && c.Transactions == nil {
			return configErr(f+".category", "only a transactions source takes category")
		}
		if c.Transactions != nil {
			if col.From != "" {
				return configErr(f+".from", "a transactions column is read by category, not from a column")
			}
			if col.Category == "" {
				col.Category = strings.TrimPrefix(col.Name, "spend_")
			}
		}
	}
	return nil
}

// validateBounds checks a numeric column's declared bounds and step.
func (col *Column) validateBounds(f string) error {
	if col.Lo == nil || col.Hi == nil {
		return configErr(f, "numeric column needs lo and hi, or an auto_bounds block")
	}
	lo, hi := *col.Lo, *col.Hi
	if math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return configErr(f, "bounds must be finite")
	}
	if !(lo < hi) {
		return configErr(f, "lo must be below hi: lo = %g, hi = %g", lo, hi)
	}
	if col.Step != nil {
		if err := checkStep(f, *col.Step); err != nil {
			return err
		}
		if !OnGrid(lo, *col.Step) || !OnGrid(hi, *col.Step) {
			return configErr(f+".step", "lo and hi must be multiples of the step %g", *col.Step)
		}
		if (hi-lo) / *col.Step > maxSteps {
			return configErr(f+".step", "more than 2^48 steps between lo and hi")
		}
	}
	return nil
}

// validateAuto checks a column whose bounds the node estimates, and fills
// the defaults of its auto_bounds block.
func (col *Column) validateAuto(f string) error {
	a := col.AutoBounds
	if col.Hi != nil {
		return configErr(f+".hi", "the auto_bounds block estimates hi: remove hi, or remove the auto_bounds block and declare both bounds")
	}
	af := f + ".auto_bounds"
	if len(a.Within) != 2 {
		return configErr(af+".within", "must be two numbers [a, b], the range the data surely lies in, such as [0, 1e9]")
	}
	lo, hi := a.Within[0], a.Within[1]
	if math.IsNaN(lo) || math.IsNaN(hi) || math.Abs(lo) > MaxAutoWithin || math.Abs(hi) > MaxAutoWithin {
		return configErr(af+".within", "must be numbers between -%g and %g", MaxAutoWithin, MaxAutoWithin)
	}
	if !(lo < hi) {
		return configErr(af+".within", "a must be below b in [a, b]: within = [%g, %g]", lo, hi)
	}
	if a.Epsilon == 0 {
		a.Epsilon = DefaultAutoEpsilon
	}
	// Each bound gets half when both are estimated, and neither half may
	// fall below the smallest ε a mechanism takes. Above MaxAutoEpsilon
	// the estimate would protect next to nothing.
	if math.IsNaN(a.Epsilon) || a.Epsilon < 2*dp.MinEpsilon || a.Epsilon > MaxAutoEpsilon {
		return configErr(af+".epsilon", "must lie in [%g, %g] (0 or left out means the default, %g), not %g", 2*dp.MinEpsilon, float64(MaxAutoEpsilon), DefaultAutoEpsilon, a.Epsilon)
	}
	if a.Quantile == 0 {
		a.Quantile = DefaultAutoQuantile
	}
	if !(a.Quantile > 0.5 && a.Quantile < 1) {
		return configErr(af+".quantile", "must lie strictly between 0.5 and 1 (hi estimates it, lo 1 − it), not %g", a.Quantile)
	}
	if col.Lo != nil {
		l := *col.Lo
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return configErr(f, "bounds must be finite")
		}
		if !(l < hi) {
			return configErr(af+".within", "b must be above lo (%g): hi is estimated in (lo, b]", l)
		}
		lo = l
	}
	if col.Step != nil {
		if err := checkStep(f, *col.Step); err != nil {
			return err
		}
		if col.Lo != nil && !OnGrid(*col.Lo, *col.Step) {
			return configErr(f+".step", "lo must be a multiple of the step %g", *col.Step)
		}
		// The estimate is rounded outward onto the grid: a step more on
		// either side.
		if (hi-lo) / *col.Step + 2 > maxSteps {
			return configErr(f+".step", "more than 2^48 steps in the range of auto_bounds.within")
		}
	}
	return nil
}

func checkStep(f string, step float64) error {
	if !(step > 0) || math.IsInf(step, 0) {
		return configErr(f+".step", "must be a positive number")
	}
	return nil
}

// HasID reports whether the source carries identifier kind k.
func (c *Config) HasID(k IDKind) bool {
	for _, s := range c.Identifiers {
		if s == string(k) {
			return true
		}
	}
	return false
}

// IdentifierColumn is the input column of identifier kind k.
func (c *Config) IdentifierColumn(k IDKind) string {
	switch k {
	case Email:
		return c.EmailColumn
	case Phone:
		return c.PhoneColumn
	case ID:
		return c.IDColumn
	}
	return ""
}

// Describe names the source for logs and errors without any secret: the
// file path, or the database host and name without user or password.
func (c *Config) Describe() string {
	switch c.Kind {
	case KindPostgres:
		return "postgres " + redactDSN(c.DSN)
	default:
		return c.Path
	}
}

func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		return u.Host + u.Path
	}
	var host, db string
	for _, kv := range strings.Fields(dsn) {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "host":
			host = v
		case "dbname":
			db = v
		}
	}
	return host + "/" + db
}

// maxSteps bounds the steps between a column's bounds: the encrypted
// circuit holds values below 2^48.
const maxSteps = 1 << 48

// OnGrid reports whether v is a multiple of step up to the rounding of
// decimal numbers in float64: v/step within 10⁻⁹ (and 8 ulps) of an
// integer, so 0.29 is on the grid of 0.01 and 0.295 is not. It is the test
// aggregate.OnGrid makes of the bounds.
func OnGrid(v, step float64) bool {
	q := v / step
	k := math.Round(q)
	return math.Abs(q-k) <= 1e-9+8*math.Abs(k)*0x1p-53
}
