package party

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/match"
)

// Domain errors of the node. They are mapped to gRPC status codes in one
// place, toStatus, at the server boundary.
var (
	ErrUnknownParty   = errors.New("party: unknown party")
	ErrNotReady       = errors.New("party: unavailable")
	ErrSetupMismatch  = errors.New("party: peer setup mismatch")
	ErrBadRequest     = errors.New("party: bad request")
	ErrBadPeerMessage = errors.New("party: malformed message from peer")
	ErrUnknownColumn  = errors.New("party: unknown column")
	ErrDuplicateQuery = errors.New("party: duplicate query id")
	ErrNotPrepared    = errors.New("party: no prepared query")
	ErrPeerFailed     = errors.New("party: peer failed")
)

var statusTable = []struct {
	err  error
	code codes.Code
}{
	{ErrUnknownParty, codes.PermissionDenied},
	{ErrNotReady, codes.Unavailable},
	{ErrSetupMismatch, codes.FailedPrecondition},
	{ErrBadRequest, codes.InvalidArgument},
	{ErrBadPeerMessage, codes.InvalidArgument},
	{ErrUnknownColumn, codes.NotFound},
	{ErrDuplicateQuery, codes.AlreadyExists},
	{ErrNotPrepared, codes.FailedPrecondition},
	{ErrPeerFailed, codes.Aborted},
	{crypto.ErrShare, codes.InvalidArgument},
	{crypto.ErrKeySwitch, codes.InvalidArgument},
	{crypto.ErrEncode, codes.InvalidArgument},
	{ErrPolicy, codes.PermissionDenied},
	{ErrStale, codes.FailedPrecondition},
	{ErrNoKeys, codes.FailedPrecondition},
	{match.ErrEmpty, codes.FailedPrecondition},
	{match.ErrDuplicateIdentifier, codes.FailedPrecondition},
	{match.ErrNonCanonical, codes.InvalidArgument},
	{match.ErrIdentity, codes.InvalidArgument},
	{match.ErrDuplicatePoint, codes.InvalidArgument},
	{match.ErrLength, codes.InvalidArgument},
	{match.ErrStep, codes.FailedPrecondition},
	{match.ErrInconsistent, codes.Aborted},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
	{context.Canceled, codes.Canceled},
}

// toStatus maps a domain error to a gRPC status error. Errors that already
// carry a status (from a nested call) keep their code.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	for _, e := range statusTable {
		if errors.Is(err, e.err) {
			return status.Error(e.code, err.Error())
		}
	}
	return status.Error(codes.Internal, err.Error())
}

// fromStatus turns a status error from a peer back into a wrapped domain
// error that names the peer and the call.
func fromStatus(peer, call string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s on %s: %w", call, peer, err)
	}
	switch st.Code() {
	case codes.Unavailable:
		return fmt.Errorf("%s on %s: %w: %s", call, peer, ErrNotReady, st.Message())
	case codes.DeadlineExceeded:
		return fmt.Errorf("%s on %s: %w: %s", call, peer, context.DeadlineExceeded, st.Message())
	case codes.InvalidArgument, codes.NotFound:
		return fmt.Errorf("%s on %s: %w: %s", call, peer, ErrBadRequest, st.Message())
	case codes.FailedPrecondition:
		return fmt.Errorf("%s on %s: %w: %s", call, peer, ErrSetupMismatch, st.Message())
	case codes.PermissionDenied:
		if strings.Contains(st.Message(), ErrPolicy.Error()) {
			return fmt.Errorf("%s on %s: %w", call, peer, errors.New(st.Message()))
		}
		return fmt.Errorf("%s on %s: %w: %s", call, peer, ErrUnknownParty, st.Message())
	default:
		return fmt.Errorf("%s on %s: %w: %s: %s", call, peer, ErrPeerFailed, st.Code(), st.Message())
	}
}
