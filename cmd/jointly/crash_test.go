package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/cluster"
	"github.com/jointly-dev/jointly/party/ledger"
	"github.com/jointly-dev/jointly/party/pki"
	"github.com/jointly-dev/jointly/party/source"
	"github.com/jointly-dev/jointly/party/synth"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// cliEnv makes the test binary run the jointly command line with its
// arguments instead of the tests, so that a test can start real node
// processes (and kill them) without building the binary.
const cliEnv = "JOINTLY_TEST_RUN_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(cliEnv) == "1" {
		// What main does, so that a child node stops on SIGTERM like the
		// real binary.
		ctx, stop := signalContext()
		code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// nodeProc is one `jointly node` child process.
type nodeProc struct {
	name, config, logPath string
	cmd                   *exec.Cmd
	done                  chan struct{} // closed when the process has exited
	err                   error         // its exit status, once done
}

// startNode starts `jointly node --config config` as a child process whose
// log goes to logPath (appended, so a restart keeps the first run's log).
// The process is killed at the end of the test if it still runs.
func startNode(t *testing.T, name, config, logPath string) *nodeProc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "node", "--config", config, "--log-level", "debug")
	cmd.Env = append(os.Environ(), cliEnv+"=1")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	p := &nodeProc{name: name, config: config, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("log of %s:\n%s", name, tail(b, 60))
			}
		}
	})
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *nodeProc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stop asks the node to shut down as an operator would (SIGTERM).
func (p *nodeProc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("%s did not stop within 10s of SIGTERM", p.name)
		p.kill()
	}
}

func tail(b []byte, lines int) string {
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// waitReady polls Info as the querier until the node reports its setup
// done, or the process exits, or ctx ends.
func waitReady(ctx context.Context, t *testing.T, p *nodeProc, addr, querierTLS string) {
	t.Helper()
	c, err := party.DialTLS(addr, querierTLS, "researcher", p.name, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var last error
	for {
		info, err := c.Info(ctx)
		if err == nil && info.SetupDone {
			return
		}
		last = err
		select {
		case <-p.done:
			t.Fatalf("%s exited before it was ready: %v", p.name, p.err)
		case <-ctx.Done():
			t.Fatalf("%s not ready: %v (last Info error: %v)", p.name, ctx.Err(), last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// freeAddrs returns n loopback addresses whose ports were free a moment ago.
// Both nodes' configurations name each other, so the ports are chosen
// before either process starts.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		addrs = append(addrs, l.Addr().String())
	}
	for _, l := range ls {
		l.Close()
	}
	return addrs
}

// nodeHCL renders a node configuration file as an operator would write it.
func nodeHCL(name, listen, dataDir, tlsDir, peer, peerAddr string, src source.Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name = %q\nfederation = \"crash\"\nlisten = %q\ndata_dir = %q\ntls_dir = %q\n", name, listen, dataDir, tlsDir)
	fmt.Fprintf(&b, "preset = %q\nallow_insecure_preset = true\n\n", crypto.PresetTest)
	fmt.Fprintf(&b, "source %q {\n  path = %q\n", src.Kind, src.Path)
	for _, c := range src.Columns {
		fmt.Fprintf(&b, "  column %q {\n    type = %q\n", c.Name, c.Type)
		if c.Lo != nil {
			fmt.Fprintf(&b, "    lo = %g\n", *c.Lo)
		}
		if c.Hi != nil {
			fmt.Fprintf(&b, "    hi = %g\n", *c.Hi)
		}
		if len(c.Levels) > 0 {
			q := make([]string, len(c.Levels))
			for i, l := range c.Levels {
				q[i] = fmt.Sprintf("%q", l)
			}
			fmt.Fprintf(&b, "    levels = [%s]\n", strings.Join(q, ", "))
		}
		b.WriteString("  }\n")
	}
	b.WriteString("}\n\n")
	fmt.Fprintf(&b, "peer %q {\n  address = %q\n}\n\n", peer, peerAddr)
	b.WriteString("querier \"researcher\" {\n  epsilon = 10\n  delta = 1e-5\n}\n\n")
	b.WriteString("timeouts {\n  rpc = \"5s\"\n  setup = \"30s\"\n  match = \"20s\"\n  shutdown = \"1s\"\n}\n")
	return b.String()
}

// auditEvents reads a node's audit log; a torn last line (a node killed
// while writing it) is not an event.
func auditEvents(t *testing.T, path string) []audit.Event {
	t.Helper()
	evs, _, err := audit.ReadFile(path)
	if err != nil && !errors.Is(err, audit.ErrIncomplete) {
		t.Fatalf("reading %s: %v", path, err)
	}
	return evs
}

// findAllow scans raw audit log bytes for a policy_decision allowing a
// query of querier, and returns its query id. Cheap enough to call every
// millisecond; a partly written last line is skipped.
func findAllow(data []byte, querier string) (string, bool) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(`"policy_decision"`)) {
			continue
		}
		var ev audit.Event
		if json.Unmarshal(line, &ev) != nil {
			continue
		}
		if ev.Kind == audit.KindPolicyDecision && ev.Querier == querier && ev.Detail[audit.DetailDecision] == audit.DecisionAllow {
			return ev.QueryID, true
		}
	}
	return "", false
}

// budgetOf runs `jointly budget --config config --format json` and returns
// querier's account.
func budgetOf(t *testing.T, config, querier string) ledger.Account {
	t.Helper()
	var out bytes.Buffer
	cmd := newRootCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"budget", "--config", config, "--format", "json"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("jointly budget: %v\n%s", err, out.String())
	}
	var accounts []ledger.Account
	if err := json.Unmarshal(out.Bytes(), &accounts); err != nil {
		t.Fatalf("jointly budget output: %v\n%s", err, out.String())
	}
	for _, a := range accounts {
		if a.Querier == querier {
			return a
		}
	}
	t.Fatalf("jointly budget lists no account for %q:\n%s", querier, out.String())
	return ledger.Account{}
}

// TestCrashBetweenChargeAndRelease kills the uploading owner's node process
// (SIGKILL) right after it charged the querier's budget for a joint query
// and before it released its decryption share. The querier must get an
// error, the restarted node must still show the budget as spent (a crash
// is no way to get budget back), its audit log must verify and record no
// release for the query, and the federation must answer the next query.
func TestCrashBetweenChargeAndRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()

	world := filepath.Join(dir, "world")
	if _, err := synth.Generate(ctx, synth.Options{Dir: world, Customers: 2000, Overlap: 0.5, Seed: 11, Format: synth.FormatCSV}); err != nil {
		t.Fatal(err)
	}
	pkiDir := filepath.Join(dir, "pki")
	if err := cluster.IssueIdentities(pkiDir, []string{"retailer", "insurer"}); err != nil {
		t.Fatal(err)
	}
	querierTLS := filepath.Join(pkiDir, cluster.Querier)

	addrs := freeAddrs(t, 2)
	model := synth.DefaultModel()
	retailerSrc := synth.RetailerSource(world, synth.FormatCSV, false, model)
	insurerSrc := synth.InsurerSource(world, synth.FormatCSV, model)
	retailerCfg := filepath.Join(dir, "retailer.hcl")
	insurerCfg := filepath.Join(dir, "insurer.hcl")
	insurerData := filepath.Join(dir, "insurer")
	for _, f := range []struct{ path, text string }{
		{retailerCfg, nodeHCL("retailer", addrs[0], filepath.Join(dir, "retailer"), filepath.Join(pkiDir, "retailer"), "insurer", addrs[1], retailerSrc)},
		{insurerCfg, nodeHCL("insurer", addrs[1], insurerData, filepath.Join(pkiDir, "insurer"), "retailer", addrs[0], insurerSrc)},
	} {
		if err := os.WriteFile(f.path, []byte(f.text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	retailer := startNode(t, "retailer", retailerCfg, filepath.Join(dir, "retailer.log"))
	insurer := startNode(t, "insurer", insurerCfg, filepath.Join(dir, "insurer.log"))
	waitReady(ctx, t, retailer, addrs[0], querierTLS)
	waitReady(ctx, t, insurer, addrs[1], querierTLS)

	// Every retailer spend column against every insurer claim type: the
	// insurer encrypts and uploads its columns, the retailer evaluates.
	req := party.JointRequest{Correlations: true, Purpose: "research", Epsilon: 1, Delta: 1e-6}
	for _, c := range retailerSrc.Columns {
		req.X = append(req.X, aggregate.ColumnRef{Owner: "retailer", Name: c.Name})
	}
	for _, c := range insurerSrc.Columns {
		if strings.HasPrefix(c.Name, "claims_") {
			req.Y = append(req.Y, aggregate.ColumnRef{Owner: "insurer", Name: c.Name})
		}
	}
	client, err := party.DialTLS(addrs[0], querierTLS, "researcher", "retailer", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	type outcome struct {
		res *party.JointResult
		err error
	}
	first := make(chan outcome, 1)
	go func() {
		res, err := client.Joint(ctx, req)
		first <- outcome{res, err}
	}()

	// Kill the insurer as soon as its allow decision is on disk: the
	// decision is written after the ledger charge is fsynced, and the
	// release event before any share leaves the node.
	insurerAudit := filepath.Join(insurerData, "audit.log")
	var crashed string
	var early *outcome
	for crashed == "" && early == nil {
		if data, err := os.ReadFile(insurerAudit); err == nil {
			if id, ok := findAllow(data, "researcher"); ok {
				insurer.kill()
				crashed = id
				break
			}
		}
		select {
		case o := <-first:
			early = &o
		case <-insurer.done:
			t.Fatalf("insurer exited on its own: %v", insurer.err)
		case <-ctx.Done():
			t.Fatal("the insurer never allowed the query")
		case <-time.After(time.Millisecond):
		}
	}
	if early != nil {
		t.Fatalf("the query finished (err %v) before the insurer recorded its decision", early.err)
	}
	t.Logf("insurer killed after allowing query %s", crashed)

	var o outcome
	select {
	case o = <-first:
	case <-ctx.Done():
		t.Fatal("the query did not fail after the insurer was killed")
	}
	if o.err == nil {
		t.Fatalf("the query succeeded with the insurer killed before its release (%d cells)", len(o.res.Cells))
	}
	if o.res != nil {
		t.Fatal("a failed query returned a result")
	}
	t.Logf("query failed as it should: %v", o.err)

	// Nothing was released, by either owner. A release here means the
	// kill came too late: the test cannot tell anything then.
	for _, path := range []string{insurerAudit, filepath.Join(dir, "retailer", "audit.log")} {
		for _, ev := range auditEvents(t, path) {
			if ev.Kind == audit.KindRelease && ev.QueryID == crashed {
				t.Fatalf("%s records a release of query %s: the kill raced with the release, so the test proves nothing; rerun", path, crashed)
			}
		}
	}

	// The insurer restarts with the same configuration and keys.
	insurer = startNode(t, "insurer", insurerCfg, filepath.Join(dir, "insurer.log"))
	waitReady(ctx, t, insurer, addrs[1], querierTLS)

	acct := budgetOf(t, insurerCfg, "researcher")
	if acct.Spent.Epsilon != 1 || acct.Charges != 1 || acct.Remaining.Epsilon != 9 {
		t.Fatalf("after the crash the insurer's ledger shows %+v; want ε 1 spent by 1 charge, 9 left", acct)
	}

	cert, err := pki.LoadCertificate(filepath.Join(pkiDir, "insurer", "insurer.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok {
		t.Fatalf("insurer certificate key is %T", cert.PublicKey)
	}
	verify := func() {
		t.Helper()
		f, err := os.Open(insurerAudit)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := audit.Verify(f, pub); err != nil {
			t.Fatalf("insurer audit log: %v", err)
		}
	}
	verify()
	var received, allowed, released int
	for _, ev := range auditEvents(t, insurerAudit) {
		if ev.QueryID != crashed {
			continue
		}
		switch ev.Kind {
		case audit.KindQueryReceived:
			received++
		case audit.KindPolicyDecision:
			if ev.Detail[audit.DetailDecision] == audit.DecisionAllow {
				allowed++
			}
		case audit.KindRelease:
			released++
		}
	}
	if received != 1 || allowed != 1 || released != 0 {
		t.Fatalf("insurer audit log for query %s: %d received, %d allowed, %d released; want 1, 1, 0", crashed, received, allowed, released)
	}
	// Both owners say what became of the charge: the retailer saw the query
	// fail, the insurer found it unfinished when it started again.
	for _, path := range []string{insurerAudit, filepath.Join(dir, "retailer", "audit.log")} {
		aborted := 0
		for _, ev := range auditEvents(t, path) {
			if ev.Kind == audit.KindQueryAborted && ev.QueryID == crashed {
				aborted++
			}
		}
		if aborted != 1 {
			t.Fatalf("%s records query %s as aborted %d times, want once", path, crashed, aborted)
		}
	}

	// The federation is healthy again: the same query is answered and
	// charged once more.
	res, err := client.Joint(ctx, req)
	if err != nil {
		t.Fatalf("query after the restart: %v", err)
	}
	if len(res.Cells) == 0 || res.Epsilon != 1 || len(res.Owners) != 2 {
		t.Fatalf("query after the restart: %d cells, ε %g, owners %v", len(res.Cells), res.Epsilon, res.Owners)
	}
	acct = budgetOf(t, insurerCfg, "researcher")
	if acct.Spent.Epsilon != 2 || acct.Charges != 2 {
		t.Fatalf("after the second query the insurer's ledger shows %+v; want ε 2 spent by 2 charges", acct)
	}
	verify()
	stages := map[string]int{}
	for _, ev := range auditEvents(t, insurerAudit) {
		if ev.Kind == audit.KindRelease {
			if ev.QueryID == crashed {
				t.Fatalf("the restarted insurer released the crashed query %s", crashed)
			}
			stages[ev.Detail[audit.DetailStage]]++
		}
	}
	if len(stages) != 2 || stages[audit.StageCounts] != 1 || stages[audit.StageResult] != 1 {
		t.Fatalf("insurer audit log has releases %v after the second query, want one of the counts and one of the result", stages)
	}

	insurer.stop(t)

	// SIGTERM stops a busy node too. A peer's upload stream that sends
	// nothing keeps its handler waiting in Recv, and a graceful stop alone
	// would wait for it forever; the node gives calls in flight its
	// shutdown timeout (1s here), then stops hard and says so.
	holdUpload(t, filepath.Join(pkiDir, "insurer"), "insurer", "retailer", addrs[0])
	start := time.Now()
	retailer.stop(t)
	t.Logf("busy retailer stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	if b, err := os.ReadFile(retailer.logPath); err != nil || !strings.Contains(string(b), "stopping hard") {
		t.Errorf("the retailer's log has no line for its hard stop (%v)", err)
	}
}

// holdUpload opens an Upload stream to the node at addr as node `as` and
// sends nothing, until the end of the test.
func holdUpload(t *testing.T, tlsDir, as, node, addr string) {
	t.Helper()
	tlsCfg, err := pki.LoadClientTLS(tlsDir, as, node)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if _, err := pb.NewFederationClient(conn).Upload(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // for the stream to reach its handler
}
