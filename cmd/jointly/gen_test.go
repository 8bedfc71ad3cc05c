package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/party/fsutil/fsutiltest"
	"github.com/jointly-dev/jointly/party/synth"
)

func TestGenCommand(t *testing.T) {
	run := func(dir string, args ...string) string {
		t.Helper()
		cmd := newGenCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(append([]string{"--out", dir}, args...))
		if err := cmd.Execute(); err != nil {
			t.Fatalf("jointly gen %v: %v", args, err)
		}
		return out.String()
	}
	a, b := t.TempDir(), t.TempDir()
	msg := run(a, "--customers", "2000", "--overlap", "0.25", "--seed", "9")
	run(b, "--customers", "2000", "--overlap", "0.25", "--seed", "9")
	if !strings.Contains(msg, "500 people on both sides") {
		t.Errorf("summary %q does not report the 500 shared people", msg)
	}
	fsutiltest.SameFiles(t, a, b, "retailer.csv", "insurer.csv", "truth.json")
	c := t.TempDir()
	run(c, "--customers", "500", "--format", "parquet", "--transactions")
	for _, n := range []string{"retailer.parquet", "insurer.parquet", "retailer_transactions.parquet", "truth.json"} {
		if _, err := os.Stat(filepath.Join(c, n)); err != nil {
			t.Error(err)
		}
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--format", "xlsx"}, "format"},
		{[]string{"--changed-email", "2"}, "changed-email"},
		{[]string{"--statistics-over", "name"}, "statistics-over"},
		{[]string{"--no-id-noise", "--missing-phone", "0.2"}, "--no-id-noise"},
	} {
		bad := newGenCmd()
		bad.SetOut(&bytes.Buffer{})
		bad.SetErr(&bytes.Buffer{})
		d := t.TempDir()
		bad.SetArgs(append([]string{"--out", d}, tc.args...))
		if err := bad.Execute(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%v: error %v, want one naming %s", tc.args, err, tc.want)
		}
		if ents, _ := os.ReadDir(d); len(ents) != 0 {
			t.Fatalf("a failed run left %d files", len(ents))
		}
	}
}

// TestGenNoise: identifier noise is on by default, its flags set it, and
// --no-id-noise turns it off; the summary reports what each match rule
// pairs, as truth.json does.
func TestGenNoise(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		noise synth.Noise
		over  string
	}{
		{nil, synth.DefaultNoise(), synth.MatchEmail},
		{[]string{"--changed-email", "0.3", "--missing-phone", "0", "--statistics-over", "email_or_phone"}, synth.Noise{ChangedEmail: 0.3}, synth.MatchEmailOrPhone},
		{[]string{"--no-id-noise"}, synth.Noise{}, synth.MatchEmail},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			dir := t.TempDir()
			cmd := newGenCmd()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetArgs(append([]string{"--out", dir, "--customers", "3000"}, tc.args...))
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dir, "truth.json"))
			if err != nil {
				t.Fatal(err)
			}
			var tr synth.Truth
			if err := json.Unmarshal(b, &tr); err != nil {
				t.Fatal(err)
			}
			if tr.Noise != tc.noise || tr.StatisticsOver != tc.over {
				t.Fatalf("truth: noise %+v over %s, want %+v over %s", tr.Noise, tr.StatisticsOver, tc.noise, tc.over)
			}
			want := fmt.Sprintf("matching on e-mail pairs %d of them (%s), on e-mail or phone %d", tr.Email, share(tr.Email, tr.N), tr.EmailOrPhone)
			if !strings.Contains(out.String(), want) {
				t.Fatalf("summary %q does not say %q", out.String(), want)
			}
			if (tr.Email < tr.N) != (tc.noise.ChangedEmail > 0) {
				t.Fatalf("%d of %d consenting pair on e-mail with noise %+v", tr.Email, tr.N, tc.noise)
			}
		})
	}
}
