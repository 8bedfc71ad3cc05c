package party

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/jointly-dev/jointly/party/ident"
	"github.com/jointly-dev/jointly/party/source"
)

// SourceOptions are the options a node reads its source with: every
// identifier normalized by package ident.
func SourceOptions() source.Options {
	return source.Options{NormalizeEmail: ident.NormalizeEmail, NormalizePhone: ident.NormalizePhone, NormalizeID: ident.NormalizeID}
}

// LoadTable reads the configured source into a Table. Only consenting
// records are kept (records without consent never reach matching, not even
// blinded), and only the columns the source declares after the policy's
// exclusions are read. Records without a usable join key (of any of the
// node's join kinds) cannot be matched and are dropped; values outside their bounds and dropped records are
// logged as counts.
func LoadTable(ctx context.Context, cfg *Config, logger hclog.Logger) (*Table, error) {
	if cfg.Source == nil {
		return nil, fmt.Errorf("%w: no source block", ErrConfig)
	}
	src := *cfg.Source
	log := logger.Named("source")
	start := time.Now()
	kinds, err := parseKinds(cfg, src)
	if err != nil {
		return nil, err
	}
	t := &Table{Values: make(map[string][]float64), Bounds: make(map[string][2]float64), Levels: map[string][]string{}, Units: map[string]string{}, Steps: map[string]float64{}}
	for _, col := range src.Columns {
		t.Values[col.Name] = nil
		if col.Step != nil {
			t.Steps[col.Name] = *col.Step
		}
		if col.Lo != nil && col.Hi != nil {
			t.Bounds[col.Name] = [2]float64{*col.Lo, *col.Hi}
		} else if col.Type == source.TypeCategorical {
			t.Bounds[col.Name] = [2]float64{0, float64(len(col.Levels) - 1)}
			t.Levels[col.Name] = slices.Clone(col.Levels)
		}
		if col.Unit != "" {
			t.Units[col.Name] = col.Unit
		}
		t.setTags(col.Name, col.Tags)
	}
	if len(kinds) > 1 {
		t.KeyKinds, t.MultiKeys = cfg.JoinKinds(), [][][]byte{}
	}
	var noKey int
	missing := make([]int, len(kinds)) // per kind: kept records without that key
	opts := SourceOptions()
	consent := newConsentReader(cfg)
	src.ExtraConsent = consent.columns()
	stats, err := source.Scan(ctx, src, opts, func(r *source.Row) error {
		if !consent.keep(r) {
			return nil
		}
		keys, ok := rowKeys(kinds, r)
		if !ok {
			noKey++
			return nil
		}
		if len(kinds) == 1 {
			t.Keys = append(t.Keys, []byte(keys[0]))
		} else {
			rec := make([][]byte, len(keys))
			for k, key := range keys {
				if key == "" {
					missing[k]++
					continue
				}
				rec[k] = []byte(key)
			}
			t.MultiKeys = append(t.MultiKeys, rec)
		}
		for i, col := range src.Columns {
			t.Values[col.Name] = append(t.Values[col.Name], r.Values[i])
		}
		consent.note(r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("party: reading %s: %w", src.Describe(), err)
	}
	stats.Warn(log, src.Describe(), kinds...)
	join := strings.Join(cfg.JoinKinds(), ",")
	if noKey > 0 {
		log.Warn("consenting records without a usable join key were left out", "join_keys", join, "count", noKey)
	}
	if len(kinds) > 1 {
		for k, m := range missing {
			if m > 0 {
				log.Info("records matched without one of their join keys", "kind", kinds[k], "count", m)
			}
		}
	}
	t.Digest = DigestTable(t)
	consent.views(t)
	log.Info("data loaded", "source", src.Describe(), "records", stats.Rows, "consenting", stats.Consenting, "kept", t.records(), // kept: with a join key, consenting to some purpose
		"columns", len(src.Columns), "elapsed", time.Since(start).Round(time.Millisecond))
	return t, nil
}
