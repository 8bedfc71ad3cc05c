package source

import (
	"fmt"
	"regexp"
)

// MaxTags bounds the tags of one column.
const MaxTags = 16

// tagRE is the form of a tag: lower-case words a policy rule can name,
// with ':' to qualify one ("proxy:pregnancy").
var tagRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.:-]{0,63}$`)

// CheckTags checks a column's tags: at most MaxTags, each of 1 to 64
// lower-case letters, digits, '_', '.', ':' or '-', none twice. Tags are
// free-form; a policy rule names the ones it restricts.
func CheckTags(tags []string) error {
	if len(tags) > MaxTags {
		return fmt.Errorf("%d tags, at most %d", len(tags), MaxTags)
	}
	seen := map[string]bool{}
	for _, t := range tags {
		if !tagRE.MatchString(t) {
			return fmt.Errorf("%q is not a tag (1-64 lower-case letters, digits, '_', '.', ':' or '-', such as \"protected\" or \"proxy:pregnancy\")", t)
		}
		if seen[t] {
			return fmt.Errorf("%q listed twice", t)
		}
		seen[t] = true
	}
	return nil
}
