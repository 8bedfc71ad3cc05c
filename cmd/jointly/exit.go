package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/jointly-dev/jointly/crypto/upload"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/ledger"
	"github.com/jointly-dev/jointly/party/pki"
	"github.com/jointly-dev/jointly/party/queryfile"
	"github.com/jointly-dev/jointly/party/source"
)

// Exit codes: one per class of failure, so that a script can tell a
// mistake of its own from a refusal and from a node that is down
// (docs/configuration.md, "Exit codes").
const (
	exitOK          = 0
	exitInternal    = 1
	exitUsage       = 2
	exitInput       = 3
	exitPolicy      = 4
	exitBudget      = 5
	exitUnavailable = 6
)

// exitCodesHelp is the table of exit codes in `jointly --help`.
const exitCodesHelp = `Exit status:
  0  success
  1  internal error: anything not below
  2  usage: unknown command or flag, missing or malformed flag value
  3  input: a configuration, query, data or certificate file is missing or
     malformed, or names a column the node does not have
  4  refused by a data owner's policy (purpose, querier, column, exact
     mode), or the certificate is not admitted
  5  refused because the privacy budget at an owner is exhausted (the
     message says whether ε or δ runs out)
  6  unavailable: the node or a peer cannot be reached, has not finished
     setup or is busy at its limits, or a deadline passed; retrying later
     may succeed`

// usageError is a command line that cannot run: an unknown command or
// flag, a missing or malformed flag value.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// inputError is a file the command was given that it cannot use.
type inputError struct{ err error }

func (e *inputError) Error() string { return e.err.Error() }
func (e *inputError) Unwrap() error { return e.err }

func inputErrorf(format string, args ...any) error {
	return &inputError{fmt.Errorf(format, args...)}
}

// inputSentinels are the errors of a file or a request that is wrong,
// whoever found it: this command, or the node (across the hop).
var inputSentinels = []error{
	party.ErrConfig, party.ErrBadRequest, party.ErrUnknownColumn, party.ErrSetupMismatch,
	queryfile.ErrInvalid, upload.ErrInfeasible, ledger.ErrRolledBack, party.ErrWitnessFile,
	source.ErrConfig, source.ErrMissingColumn, source.ErrBadValue, source.ErrDuplicateID,
	source.ErrEmpty, source.ErrMalformed, source.ErrSchema,
	pki.ErrBadFile, pki.ErrBadName, pki.ErrExpired,
	audit.ErrTampered, audit.ErrTruncated, audit.ErrInvalidEvent, audit.ErrKeyMismatch,
	fs.ErrNotExist,
}

// exitCode is the exit status for the error a command returned. Errors
// from a node are matched by their sentinels, which survive the gRPC hop.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var usage *usageError
	if errors.As(err, &usage) {
		return exitUsage
	}
	// Before ErrPolicy: a budget refusal is a policy refusal too.
	if errors.Is(err, party.ErrBudgetExhausted) {
		return exitBudget
	}
	if errors.Is(err, party.ErrPolicy) || errors.Is(err, party.ErrUnknownParty) {
		return exitPolicy
	}
	if unavailable(err) {
		return exitUnavailable
	}
	var input *inputError
	if errors.As(err, &input) {
		return exitInput
	}
	for _, s := range inputSentinels {
		if errors.Is(err, s) {
			return exitInput
		}
	}
	return exitInternal
}

// unavailable reports an error that may go away by itself: a node or a
// database that cannot be reached or is not ready, a node at its limits,
// a deadline. (A query too large for a node's limits even alone is
// ErrCapacity too; its message says so.)
func unavailable(err error) bool {
	if errors.Is(err, party.ErrNotReady) || errors.Is(err, party.ErrCapacity) || errors.Is(err, party.ErrStale) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, source.ErrUnreachable) || errors.Is(err, party.ErrAuditRolledBack) {
		return true
	}
	if st, ok := status.FromError(err); ok {
		return st.Code() == codes.Unavailable || st.Code() == codes.DeadlineExceeded
	}
	return false
}

// run executes the command line args and returns its exit status; main
// and the tests' child processes go through it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := execute(ctx, root)
	if err != nil {
		fmt.Fprintln(stderr, "jointly:", err)
		if exitCode(err) == exitUsage && cmd != nil {
			fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
	}
	return exitCode(err)
}

// execute runs root and returns the command that ran and its error. An
// error returned before the command's own code started (flag parsing,
// arguments, required flags, --log-level) is a usageError: cobra's own
// errors carry no type to tell them by.
func execute(ctx context.Context, root *cobra.Command) (*cobra.Command, error) {
	started := false
	var wrap func(c *cobra.Command)
	wrap = func(c *cobra.Command) {
		if run := c.RunE; run != nil {
			c.RunE = func(cmd *cobra.Command, args []string) error {
				started = true
				return run(cmd, args)
			}
		}
		if run := c.Run; run != nil {
			c.Run = func(cmd *cobra.Command, args []string) {
				started = true
				run(cmd, args)
			}
		}
		for _, sub := range c.Commands() {
			wrap(sub)
		}
	}
	wrap(root)
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil && !started {
		var usage *usageError
		if !errors.As(err, &usage) {
			err = &usageError{err}
		}
	}
	return cmd, err
}
