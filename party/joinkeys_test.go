package party

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/jointly-dev/jointly/crypto/match"
	"github.com/jointly-dev/jointly/party/ident"
	"github.com/jointly-dev/jointly/party/source"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

func TestJoinKeysConfig(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		kinds     []string
		err       string // a fragment of the error, "" for none
	}{
		{"default", "", []string{"email"}, ""},
		{"join_key", `join_key = "phone"`, []string{"phone"}, ""},
		{"join_keys", `join_keys = ["email", "phone"]`, []string{"email", "phone"}, ""},
		{"join_keys phone first", `join_keys = ["phone", "email"]`, []string{"phone", "email"}, ""},
		{"one kind", `join_keys = ["phone"]`, []string{"phone"}, ""},
		{"join_key id", `join_key = "id"`, []string{"id"}, ""},
		{"join_keys id first", `join_keys = ["id", "email"]`, []string{"id", "email"}, ""},
		{"join_keys three kinds", `join_keys = ["phone", "id", "email"]`, []string{"phone", "id", "email"}, ""},
		{"upper-case id", `join_keys = ["ID", "email"]`, nil, `join_keys: "ID" is not an identifier kind (email, phone or id, lower case)`},
		{"both", "join_key = \"email\"\njoin_keys = [\"email\", \"phone\"]", nil, "node.hcl:17: join_keys: set either join_key (one kind) or join_keys, not both"},
		{"unknown", `join_keys = ["email", "card"]`, nil, `join_keys: "card" is not an identifier kind`},
		{"twice", `join_keys = ["email", "email"]`, nil, `join_keys: "email" listed twice`},
		{"bad join_key", `join_key = "card"`, nil, `join_key: "card" is not an identifier kind`},
		{"match_graph self", "join_keys = [\"email\", \"phone\"]\nmatch_graph = \"self\"", []string{"email", "phone"}, ""},
		{"match_graph either", `match_graph = "either"`, []string{"email"}, ""},
		{"match_graph self with one kind", `match_graph = "self"`, nil, `match_graph: "self" needs several join_keys`},
		{"match_graph unknown", "join_keys = [\"email\", \"phone\"]\nmatch_graph = \"peer\"", nil, `match_graph: "peer" is neither "either" nor "self"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig("node.hcl", []byte(goodConfig+tc.src+"\n"))
			if tc.err != "" {
				if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("want an error with %q, got %v", tc.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.JoinKinds(); !slices.Equal(got, tc.kinds) {
				t.Fatalf("kinds %v, want %v", got, tc.kinds)
			}
			if cfg.multiKey() != (len(tc.kinds) > 1) {
				t.Fatalf("multiKey() = %v for %v", cfg.multiKey(), tc.kinds)
			}
			// Validate is idempotent: a validated configuration validates again.
			if err := cfg.Validate(); err != nil {
				t.Fatalf("second Validate: %v", err)
			}
		})
	}
}

// TestDigestCoversEveryKind: the digest that keys the cached layout changes
// with any key of any kind, with the kinds' order, and never equals the
// digest of single-kind keys.
func TestDigestCoversEveryKind(t *testing.T) {
	mk := func() *Table {
		return &Table{KeyKinds: []string{"email", "phone"}, MultiKeys: [][][]byte{
			{[]byte("ann@example.org"), []byte("+12125550100")},
			{[]byte("bob@example.org"), nil},
			{nil, []byte("+12125550102")},
		}}
	}
	base := DigestTable(mk())
	if !bytes.Equal(base, DigestTable(mk())) {
		t.Fatal("digest is not deterministic")
	}
	changes := map[string]func(*Table){
		"phone changed":  func(t *Table) { t.MultiKeys[0][1] = []byte("+12125550199") },
		"phone added":    func(t *Table) { t.MultiKeys[1][1] = []byte("+12125550101") },
		"email removed":  func(t *Table) { t.MultiKeys[1][0] = nil },
		"kinds reversed": func(t *Table) { t.KeyKinds = []string{"phone", "email"} },
		"record dropped": func(t *Table) { t.MultiKeys = t.MultiKeys[:2] },
		"keys moved":     func(t *Table) { t.MultiKeys[1] = [][]byte{nil, []byte("bob@example.org")} },
	}
	for name, change := range changes {
		tab := mk()
		change(tab)
		if bytes.Equal(base, DigestTable(tab)) {
			t.Errorf("%s: digest unchanged", name)
		}
	}
	single := &Table{Keys: [][]byte{[]byte("ann@example.org")}}
	if bytes.Equal(DigestTable(single), DigestTable(&Table{KeyKinds: []string{"email"}, MultiKeys: [][][]byte{{[]byte("ann@example.org")}}})) {
		t.Error("a multi-key table digests like a single-key one")
	}
	// A consent view keeps every kind of its records.
	tab := mk()
	v := tab.Subset([]bool{false, true, true})
	if v.records() != 2 || !slices.Equal(v.KeyKinds, tab.KeyKinds) || string(v.MultiKeys[1][1]) != "+12125550102" || v.Keys != nil {
		t.Fatalf("subset: %d records, kinds %v", v.records(), v.KeyKinds)
	}
}

// TestLoadTableJoinKeys: LoadTable keeps a record that has a key of any
// join kind, with the others empty, drops one with none, and refuses a
// kind the source does not carry.
func TestLoadTableJoinKeys(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ids.csv")
	data := "email,phone,consent,v\n" +
		"Ann@Example.org,,true,1\n" +
		",(212) 345-0001,true,2\n" +
		",,true,3\n" +
		"cy@example.org,212.345.0002,true,4\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	load := func(ids []string) (*Table, error) {
		return loadJoinKeys(t, source.Config{Kind: source.KindCSV, Path: path, Identifiers: ids}, "phone", "email")
	}
	tab, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"", "ann@example.org"}, {"+12123450001", ""}, {"+12123450002", "cy@example.org"}}
	if tab.records() != len(want) || tab.Keys != nil || !slices.Equal(tab.KeyKinds, []string{"phone", "email"}) || !slices.Equal(tab.Values["v"], []float64{1, 2, 4}) {
		t.Fatalf("table of %d records, kinds %v, values %v", tab.records(), tab.KeyKinds, tab.Values["v"])
	}
	for j, w := range want {
		if string(tab.MultiKeys[j][0]) != w[0] || string(tab.MultiKeys[j][1]) != w[1] {
			t.Fatalf("record %d: keys %q, want %q", j, tab.MultiKeys[j], w)
		}
	}
	if _, err := load([]string{"email"}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "phone") {
		t.Fatalf("a join kind the source does not carry: %v", err)
	}
}

// TestHelloNormalizationVersion: the hello carries the normalization
// version of the node's join kinds, v1 for e-mail and phone as before the
// id kind, and a peer on another version of them is refused.
func TestHelloNormalizationVersion(t *testing.T) {
	for _, join := range [][]string{{"email"}, {"phone"}, {"email", "phone"}, {"id"}, {"id", "email"}, {"phone", "id", "email"}} {
		t.Run(strings.Join(join, ","), func(t *testing.T) {
			n := &Node{cfg: Config{Name: "self", JoinKeys: join}}
			kinds := make([]ident.Kind, len(join))
			for i, k := range join {
				kinds[i] = ident.Kind(k)
			}
			v := n.cfg.normVersion()
			if v != ident.SessionVersion(kinds...) || v == 0 {
				t.Fatalf("version %d, want %d", v, ident.SessionVersion(kinds...))
			}
			if !slices.Contains(join, "id") && v != 1 {
				t.Fatalf("version %d of %v: nodes of earlier builds send 1", v, join)
			}
			h := n.matchHello([]byte("s"), 3, "research", "").GetHello()
			if h.NormalizationVersion != v {
				t.Fatalf("hello carries v%d, want v%d", h.NormalizationVersion, v)
			}
			h.Node = "peer"
			if got, err := n.checkHello(h, "peer", []byte("s")); err != nil || got != 3 {
				t.Fatalf("own hello refused: %d, %v", got, err)
			}
			h.NormalizationVersion = v + 1
			if _, err := n.checkHello(h, "peer", []byte("s")); !errors.Is(err, ErrSetupMismatch) || !strings.Contains(err.Error(), "normalization") {
				t.Fatalf("a peer on another normalization version: %v", err)
			}
		})
	}
}

// TestLoadTableIDKind: LoadTable reads the id kind normalized from the
// source's id_column, keeps records without an id that have an e-mail,
// and refuses to match on id when the source does not carry it, naming it.
func TestLoadTableIDKind(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ids.csv")
	data := "card_number,email,consent,v\n" +
		"lc-0012.345,,true,1\n" +
		",bob@example.org,true,2\n" +
		",,true,3\n" +
		"LC 0012 346,Cy@Example.org,true,4\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	load := func(ids []string) (*Table, error) {
		return loadJoinKeys(t, source.Config{Kind: source.KindCSV, Path: path, Identifiers: ids, IDColumn: "card_number"}, "id", "email")
	}
	tab, err := load([]string{"email", "id"})
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"LC0012345", ""}, {"", "bob@example.org"}, {"LC0012346", "cy@example.org"}}
	if tab.records() != len(want) || !slices.Equal(tab.KeyKinds, []string{"id", "email"}) || !slices.Equal(tab.Values["v"], []float64{1, 2, 4}) {
		t.Fatalf("table of %d records, kinds %v, values %v", tab.records(), tab.KeyKinds, tab.Values["v"])
	}
	for j, w := range want {
		if string(tab.MultiKeys[j][0]) != w[0] || string(tab.MultiKeys[j][1]) != w[1] {
			t.Fatalf("record %d: keys %q, want %q", j, tab.MultiKeys[j], w)
		}
	}
	if _, err := load(nil); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "matches on id, which source") {
		t.Fatalf("a join kind the source does not carry: %v", err)
	}
}

// FuzzCheckHello: a matching hello is accepted only when it names this
// node's kinds in order, and a record count the protocol can carry.
func FuzzCheckHello(f *testing.F) {
	f.Add("email,phone", "email\x00phone", uint64(10))
	f.Add("email", "", uint64(1))
	f.Add("phone,email", "phone\x00email", uint64(1<<40))
	f.Fuzz(func(t *testing.T, kind, kinds string, records uint64) {
		for _, join := range [][]string{{"email"}, {"email", "phone"}, {"id", "email"}} {
			n := &Node{cfg: Config{JoinKeys: join}}
			h := &pb.MatchHello{Node: "peer", SessionId: []byte("s"), Records: records, IdKind: kind, NormalizationVersion: n.cfg.normVersion()}
			if kinds != "" {
				h.IdKinds = strings.Split(kinds, "\x00")
			}
			got, err := n.checkHello(h, "peer", []byte("s"))
			if err != nil {
				if !errors.Is(err, ErrSetupMismatch) && !errors.Is(err, ErrBadPeerMessage) {
					t.Fatalf("error of no class: %v", err)
				}
				continue
			}
			theirs := h.IdKinds
			if len(theirs) == 0 {
				theirs = []string{kind}
			}
			if !slices.Equal(theirs, join) || got <= 0 || uint64(got)*uint64(len(join)) > match.MaxPoints {
				t.Fatalf("accepted kinds %q (%q), %d records, for %v", kind, kinds, records, join)
			}
		}
	})
}

// loadJoinKeys loads src, with one numeric column v in [0, 10], as a node
// that matches on the kinds joinKeys loads it.
func loadJoinKeys(t *testing.T, src source.Config, joinKeys ...string) (*Table, error) {
	t.Helper()
	lo, hi := 0.0, 10.0
	cfg := DefaultConfig()
	cfg.Name, cfg.Federation, cfg.Listen, cfg.DataDir, cfg.InsecureLoopback = "n", "f", "127.0.0.1:1", t.TempDir(), true
	cfg.Peers = []PeerConfig{{Name: "p", Address: "127.0.0.1:2"}}
	cfg.JoinKeys = joinKeys
	src.Columns = []source.Column{{Name: "v", Type: source.TypeNumeric, Lo: &lo, Hi: &hi}}
	cfg.Source = &src
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return LoadTable(context.Background(), &cfg, hclog.NewNullLogger())
}
