package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestUnknownLogLevel: a misspelt --log-level is refused before the
// command runs, not silently taken as the default.
func TestUnknownLogLevel(t *testing.T) {
	for _, tc := range []struct {
		level string
		ok    bool
	}{{"debug", true}, {"WARN", true}, {"verbose", false}, {"", false}} {
		cmd := newRootCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs([]string{"--log-level", tc.level, "version"})
		err := cmd.Execute()
		if tc.ok != (err == nil) {
			t.Errorf("--log-level %q: %v", tc.level, err)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "--log-level")) {
			t.Errorf("--log-level %q: the error does not name the flag: %v", tc.level, err)
		}
	}
}
