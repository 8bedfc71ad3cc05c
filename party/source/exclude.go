package source

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ExcludeError is an exclusion a source cannot honour: a name that is none
// of its columns, input columns or transactions categories, or excluded
// data that another column or the source's query would still read.
type ExcludeError struct {
	// Name is the excluded name concerned, as the policy writes it.
	Name string
	// Reason says what is wrong; it names columns and categories, never a
	// value.
	Reason string
}

func (e *ExcludeError) Error() string { return fmt.Sprintf("%v: exclude: %s", ErrConfig, e.Reason) }

// Unwrap makes errors.Is(err, ErrConfig) hold.
func (e *ExcludeError) Unwrap() error { return ErrConfig }

// Exclude makes the source honour a data owner's exclusions: the data a
// name stands for is never read, under that name or any other.
//
// A name X and the name spend_X stand for the same data (a category and
// the default name of its column); names are compared without regard to
// case. A name must stand for one of the source's declared columns, the
// input column a declared column reads (its from), or, for a transactions
// source, a category a column sums; any other name is refused, so that a
// misspelt exclusion cannot leave the real column readable.
//
// A declared column whose name stands for an excluded name is removed, and
// what it reads, its input column or its category, is excluded with it.
// Any other column that would read excluded data is refused rather than
// removed: a column read from an excluded input, or summing an excluded
// category. A hand-written query may not mention any excluded name or the
// data it stands for, anywhere in its text. The identifier and consent
// columns, and a transactions source's customer, category and amount
// columns, cannot be excluded.
//
// Exclude validates c first. It remembers the columns it removed, so
// applying the same names again (a configuration validated twice) gives
// the same result.
func (c *Config) Exclude(names []string) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if len(names) == 0 {
		return nil
	}
	tx := c.Transactions != nil
	all := slices.Concat(c.Columns, c.excluded)
	// byName maps every form of an excluded name to the name; byData adds
	// what the columns of those names read.
	byName, byData := map[string]string{}, map[string]string{}
	for _, n := range names {
		if err := c.checkExcludable(n, all); err != nil {
			return err
		}
		for _, k := range forms(n) {
			byName[k], byData[k] = n, n
		}
	}
	for _, col := range all {
		n, ok := byName[fold(col.Name)]
		if !ok {
			continue
		}
		read := col.Input()
		if tx {
			read = col.Category
		}
		for _, k := range forms(read) {
			if _, dup := byData[k]; !dup {
				byData[k] = n
			}
		}
	}
	var kept, removed []Column
	for _, col := range c.Columns {
		if _, ok := byName[fold(col.Name)]; ok {
			removed = append(removed, col)
			continue
		}
		if n, ok := byData[fold(col.Category)]; ok && tx {
			return &ExcludeError{Name: n, Reason: fmt.Sprintf("column %q sums the transactions category %q, which the policy excludes%s; remove the column or the exclusion",
				col.Name, col.Category, as(n, col.Category))}
		}
		if n, ok := byData[fold(col.Input())]; ok && !tx {
			return &ExcludeError{Name: n, Reason: fmt.Sprintf("column %q is read from %q, which the policy excludes%s; remove the column or the exclusion",
				col.Name, col.Input(), as(n, col.Input()))}
		}
		kept = append(kept, col)
	}
	if c.Query != "" {
		for _, w := range sortedKeys(byData) {
			if mentions(c.Query, w) {
				n := byData[w]
				return &ExcludeError{Name: n, Reason: fmt.Sprintf("the source's query names %q, which the policy excludes%s; excluded data may not be read through the query, remove it from there",
					w, as(n, w))}
			}
		}
	}
	if len(kept) == 0 {
		return &ExcludeError{Name: names[0], Reason: "every column of the source is excluded; a node needs at least one"}
	}
	c.Columns = kept
	c.excluded = slices.Concat(c.excluded, removed) // a copy: configs copied by value share the old one
	return nil
}

// forms are the case-folded names that stand for the same data as name:
// the name, and X for spend_X or spend_X for X.
func forms(name string) []string {
	k := fold(name)
	if k == "" {
		return nil
	}
	if x, ok := strings.CutPrefix(k, "spend_"); ok {
		if x == "" {
			return []string{k}
		}
		return []string{k, x}
	}
	return []string{k, "spend_" + k}
}

// checkExcludable refuses a name that stands for nothing the source reads,
// or for a column every record needs.
func (c *Config) checkExcludable(n string, all []Column) error {
	k := fold(n)
	tx := c.Transactions != nil
	type role struct{ col, role string }
	structural := []role{{c.ConsentColumn, "consent"}}
	if tx {
		t := c.Transactions
		structural = append(structural, role{t.CustomerColumn, "customer"}, role{t.CategoryColumn, "category"}, role{t.AmountColumn, "amount"})
	}
	for _, s := range structural {
		if fold(s.col) == k {
			return &ExcludeError{Name: n, Reason: fmt.Sprintf("%q is the source's %s column, which the node reads for every record; it cannot be excluded", n, s.role)}
		}
	}
	for _, id := range c.Identifiers {
		if fold(c.IdentifierColumn(IDKind(id))) == k {
			return &ExcludeError{Name: n, Reason: fmt.Sprintf("%q is the source's %s column, read as an identifier; to stop reading it, leave %q out of the source's identifiers", n, id, id)}
		}
	}
	stands := func(s string) bool { return slices.Contains(forms(n), fold(s)) }
	var colNames, inputNames, catNames []string
	for _, col := range all {
		colNames = append(colNames, col.Name)
		if stands(col.Name) {
			return nil
		}
		if tx {
			catNames = append(catNames, col.Category)
			if stands(col.Category) {
				return nil
			}
			continue
		}
		if col.From != "" {
			inputNames = append(inputNames, col.From)
		}
		if stands(col.Input()) {
			return nil
		}
	}
	if c.Query != "" && slices.ContainsFunc(forms(n), func(w string) bool { return mentions(c.Query, w) }) {
		return nil // refused by Exclude, naming the query
	}
	what := "an input column"
	if tx {
		what = "a transactions category"
	}
	list := "columns: " + strings.Join(sorted(colNames), ", ")
	if len(inputNames) > 0 {
		list += "; input columns: " + strings.Join(sorted(inputNames), ", ")
	}
	if len(catNames) > 0 {
		list += "; categories: " + strings.Join(sorted(catNames), ", ")
	}
	return &ExcludeError{Name: n, Reason: fmt.Sprintf("%q is neither a column nor %s of the source (%s)", n, what, list)}
}

// as says which excluded name covers what, when it is written otherwise.
func as(name, what string) string {
	if fold(name) == fold(what) {
		return ""
	}
	return fmt.Sprintf(" (as %q)", name)
}

func fold(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// mentions reports whether word occurs in text as a whole word, ignoring
// case: neither preceded nor followed by a letter, a digit or '_'. It
// finds a name written as an identifier, quoted or not, in a string
// literal or in a comment.
func mentions(text, word string) bool {
	text, word = strings.ToLower(text), strings.ToLower(word)
	if word == "" {
		return false
	}
	for i := 0; i < len(text); {
		j := strings.Index(text[i:], word)
		if j < 0 {
			return false
		}
		j += i
		before, _ := utf8.DecodeLastRuneInString(text[:j])
		after, _ := utf8.DecodeRuneInString(text[j+len(word):])
		if !isWordRune(before) && !isWordRune(after) {
			return true
		}
		i = j + 1
	}
	return false
}

func isWordRune(r rune) bool {
	return r == '_' || (r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r)))
}
