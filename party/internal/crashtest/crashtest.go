// Package crashtest kills a test's own binary, re-executed as a child, in
// the middle of an action, so that a test can check what a crash leaves on
// disk. It is imported by tests only.
//
// The child is a test function of the same package that calls Child first:
//
//	func TestCrashChild(t *testing.T) {
//		crashtest.Child(t, "JOINTLY_X_CRASH_CHILD", func(path string) (string, error) {
//			// do the work on path, return what to announce
//		})
//	}
//
// and the parent calls Kill with that test's name and the same variable.
package crashtest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Child runs work with the value of the environment variable env and
// prints the line work returns, then waits to be killed, as if in the
// middle of the action that follows. Without env set, as in a normal test
// run, the test is skipped.
func Child(t *testing.T, env string, work func(arg string) (string, error)) {
	arg := os.Getenv(env)
	if arg == "" {
		t.Skip("only runs as the child of a crash test")
	}
	line, err := work(arg)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	fmt.Println(line)
	time.Sleep(time.Minute) // acting on it; the parent kills us here
	os.Exit(3)
}

// Kill runs test child of this binary with env=arg, waits for the line it
// announces, calls during (if not nil) while the child is alive, then
// kills it with SIGKILL and checks that it died of it. It returns the
// child's line.
func Kill(t *testing.T, child, env, arg string, during func(line string)) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+child+"$")
	cmd.Env = append(os.Environ(), env+"="+arg)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	line = strings.TrimSpace(line)
	if err != nil || strings.HasPrefix(line, "error:") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q, %v", line, err)
	}
	if during != nil {
		during(line)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v", err)
	}
	return line
}
