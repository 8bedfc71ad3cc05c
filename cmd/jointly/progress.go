package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jointly-dev/jointly/party"
)

// Progress output modes of jointly query.
const (
	progressAuto = "auto" // a line on a terminal, nothing otherwise
	progressLine = "line"
	progressJSON = "json"
	progressNone = "none"
)

// progressPrinter writes a query's progress reports to w: one line
// rewritten in place, or one JSON object per report.
type progressPrinter struct {
	w       io.Writer
	mode    string
	printed bool // a line is on screen, to be ended
}

// newProgressPrinter resolves mode for w; it returns nil when nothing is
// to be printed.
func newProgressPrinter(w io.Writer, mode string) *progressPrinter {
	if mode == progressAuto {
		mode = progressNone
		if f, ok := w.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				mode = progressLine
			}
		}
	}
	if mode == progressNone {
		return nil
	}
	return &progressPrinter{w: w, mode: mode}
}

// report prints one report.
func (p *progressPrinter) report(r party.Progress) {
	if p.mode == progressJSON {
		b, _ := json.Marshal(struct {
			Phase      string  `json:"phase"`
			Done       int64   `json:"done"`
			Total      int64   `json:"total"`
			Unit       string  `json:"unit"`
			Rate       float64 `json:"rate"`
			ETASeconds float64 `json:"eta_seconds"`
		}{r.Phase, r.Done, r.Total, r.Unit, r.Rate, r.ETA.Seconds()})
		fmt.Fprintf(p.w, "%s\n", b)
		return
	}
	pct := 100 * float64(r.Done) / float64(max(r.Total, 1))
	eta := ""
	if r.ETA > 0 {
		eta = "  about " + r.ETA.Round(time.Second).String() + " left"
	}
	fmt.Fprintf(p.w, "\r\033[K%-9s %3.0f%%  %d of %d %s  %.0f/s%s", r.Phase, pct, r.Done, r.Total, r.Unit, r.Rate, eta)
	p.printed = true
	if r.Done == r.Total {
		fmt.Fprintln(p.w)
		p.printed = false
	}
}

// end finishes a line left on screen.
func (p *progressPrinter) end() {
	if p != nil && p.printed {
		fmt.Fprintln(p.w)
		p.printed = false
	}
}
