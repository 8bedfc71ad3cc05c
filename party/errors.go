package party

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/match"
)

// Domain errors of the node. They are mapped to gRPC status codes in one
// place, statusTable, at the server boundary (toStatus), and back on the
// far side (fromStatus): the sentinel travels by name, so errors.Is works
// across a hop.
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
	// ErrCapacity refuses a query over the node's limits, before anything
	// is charged.
	ErrCapacity = errors.New("party: over capacity")
	// ErrMatchCrossed refuses a matching session a peer opened while this
	// node's own session with that peer runs and goes first: the peer
	// serves that one instead, and has its layout when it ends.
	ErrMatchCrossed = errors.New("party: crossed matching sessions")
)

// ErrPolicy is returned when a data owner's policy refuses a query. The
// querier gets the reason; nothing is decrypted. A refusal is a
// *RefusalError, which names the owner.
var ErrPolicy = errors.New("party: refused by policy")

// ErrBudgetExhausted is the refusal of a query whose cost the querier's
// privacy budget at an owner cannot pay. It is a policy refusal too:
// errors.Is(ErrBudgetExhausted, ErrPolicy) holds.
var ErrBudgetExhausted = fmt.Errorf("%w: privacy budget exhausted", ErrPolicy)

// RefusalError is a data owner's policy refusal: which owner, and why. It
// crosses hops intact (fromStatus rebuilds it), so the querier learns
// which owner refused a query that another node evaluated, and whether its
// budget there ran out.
type RefusalError struct {
	Owner  string
	Reason string
	// Budget marks a refusal because the querier's budget at Owner cannot
	// pay for the query; the Reason says whether ε or δ runs out.
	Budget bool
}

func (e *RefusalError) Error() string {
	return fmt.Sprintf("%v: %s refuses: %s", ErrPolicy, e.Owner, e.Reason)
}

// Unwrap makes errors.Is(err, ErrPolicy) hold, and errors.Is(err,
// ErrBudgetExhausted) for a budget refusal.
func (e *RefusalError) Unwrap() error {
	if e.Budget {
		return ErrBudgetExhausted
	}
	return ErrPolicy
}

// errorDomain is the ErrorInfo domain of the node's errors.
const errorDomain = "jointly.v1"

// statusTable is the one map between domain errors and the wire: each
// sentinel's gRPC code and the reason it travels under. Reasons are
// unique; order matters only where one error wraps several sentinels
// (the first match wins).
var statusTable = []struct {
	err    error
	code   codes.Code
	reason string
}{
	{ErrBudgetExhausted, codes.ResourceExhausted, "BUDGET_EXHAUSTED"}, // before ErrPolicy, which it wraps
	{ErrPolicy, codes.PermissionDenied, "POLICY_REFUSED"},
	{ErrUnknownParty, codes.PermissionDenied, "UNKNOWN_PARTY"},
	{ErrNotReady, codes.Unavailable, "NOT_READY"},
	{ErrCapacity, codes.ResourceExhausted, "OVER_CAPACITY"},
	{ErrSetupMismatch, codes.FailedPrecondition, "SETUP_MISMATCH"},
	{ErrBadRequest, codes.InvalidArgument, "BAD_REQUEST"},
	{ErrBadPeerMessage, codes.InvalidArgument, "BAD_PEER_MESSAGE"},
	{ErrUnknownColumn, codes.NotFound, "UNKNOWN_COLUMN"},
	{ErrDuplicateQuery, codes.AlreadyExists, "DUPLICATE_QUERY"},
	{ErrNotPrepared, codes.FailedPrecondition, "NOT_PREPARED"},
	{ErrStale, codes.FailedPrecondition, "STALE_LAYOUT"},
	{ErrNoKeys, codes.FailedPrecondition, "NO_KEYS"},
	{ErrPeerFailed, codes.Aborted, "PEER_FAILED"},
	{ErrMatchCrossed, codes.Aborted, "MATCH_CROSSED"},
	{ErrAuditRolledBack, codes.FailedPrecondition, "AUDIT_ROLLED_BACK"},
	{crypto.ErrShare, codes.InvalidArgument, "BAD_SHARE"},
	{crypto.ErrKeySwitch, codes.InvalidArgument, "BAD_KEY_SWITCH"},
	{crypto.ErrEncode, codes.InvalidArgument, "BAD_ENCODING"},
	{match.ErrEmpty, codes.FailedPrecondition, "MATCH_EMPTY"},
	{match.ErrDuplicateIdentifier, codes.FailedPrecondition, "MATCH_DUPLICATE_IDENTIFIER"},
	{match.ErrNonCanonical, codes.InvalidArgument, "MATCH_NON_CANONICAL"},
	{match.ErrIdentity, codes.InvalidArgument, "MATCH_IDENTITY"},
	{match.ErrDuplicatePoint, codes.InvalidArgument, "MATCH_DUPLICATE_POINT"},
	{match.ErrLength, codes.InvalidArgument, "MATCH_LENGTH"},
	{match.ErrStep, codes.FailedPrecondition, "MATCH_STEP"},
	{match.ErrInconsistent, codes.Aborted, "MATCH_INCONSISTENT"},
	{context.DeadlineExceeded, codes.DeadlineExceeded, "DEADLINE_EXCEEDED"},
	{context.Canceled, codes.Canceled, "CANCELED"},
}

// Metadata keys of a refusal's ErrorInfo.
const (
	metaOwner  = "owner"
	metaReason = "refusal"
)

// toStatus maps a domain error to a gRPC status error whose ErrorInfo
// names the sentinel (and, for a refusal, the owner and its reason).
// Errors that already carry a status keep it.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	for _, e := range statusTable {
		if !errors.Is(err, e.err) {
			continue
		}
		info := &errdetails.ErrorInfo{Reason: e.reason, Domain: errorDomain}
		var refusal *RefusalError
		if errors.As(err, &refusal) {
			info.Metadata = map[string]string{metaOwner: refusal.Owner, metaReason: refusal.Reason}
		}
		st, derr := status.New(e.code, err.Error()).WithDetails(info)
		if derr != nil {
			return status.Error(e.code, err.Error())
		}
		return st.Err()
	}
	if _, ok := status.FromError(err); ok {
		return err // a status from a nested call or the transport
	}
	return status.Error(codes.Internal, err.Error())
}

// fromStatus turns a status error from a peer back into a domain error
// that names the peer and the call and wraps the sentinel the peer's
// toStatus named, so that errors.Is holds on this side too. A status
// without a known reason (another server, a transport failure) is mapped
// by its code.
func fromStatus(peer, call string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s on %s: %w", call, peer, err)
	}
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok || info.Domain != errorDomain {
			continue
		}
		for _, e := range statusTable {
			if e.reason != info.Reason {
				continue
			}
			if e.err == ErrPolicy || e.err == ErrBudgetExhausted {
				owner, reason := info.Metadata[metaOwner], info.Metadata[metaReason]
				if owner == "" {
					owner, reason = peer, st.Message()
				}
				return fmt.Errorf("%s on %s: %w", call, peer, &RefusalError{Owner: owner, Reason: reason, Budget: e.err == ErrBudgetExhausted})
			}
			return fmt.Errorf("%s on %s: %w", call, peer, &remoteError{sentinel: e.err, msg: st.Message()})
		}
	}
	switch st.Code() {
	case codes.Unavailable: // the connection, not the peer's own answer
		return fmt.Errorf("%s on %s: %w: %s does not answer: %s", call, peer, ErrNotReady, peer, st.Message())
	case codes.DeadlineExceeded:
		return fmt.Errorf("%s on %s: %w: %s", call, peer, context.DeadlineExceeded, st.Message())
	case codes.Canceled:
		return fmt.Errorf("%s on %s: %w: %s", call, peer, context.Canceled, st.Message())
	case codes.PermissionDenied, codes.Unauthenticated: // the authorizer's refusals
		return fmt.Errorf("%s on %s: %w: %s", call, peer, ErrUnknownParty, st.Message())
	case codes.InvalidArgument, codes.NotFound:
		return fmt.Errorf("%s on %s: %w: %s", call, peer, ErrBadRequest, st.Message())
	case codes.FailedPrecondition:
		return fmt.Errorf("%s on %s: %w: %s", call, peer, ErrSetupMismatch, st.Message())
	default:
		return fmt.Errorf("%s on %s: %w: %s: %s", call, peer, ErrPeerFailed, st.Code(), st.Message())
	}
}

// certificateRefused says why a call failed when one side's certificate
// did not verify, which no retry fixes: the TLS reason and what to do
// about it; "" for any other failure.
func certificateRefused(err error) string {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.Unavailable {
		return ""
	}
	_, reason, found := strings.Cut(st.Message(), "authentication handshake failed: ")
	if !found || !strings.Contains(reason, "certificate") {
		return ""
	}
	reason = strings.ReplaceAll(strings.TrimSuffix(reason, `"`), `\"`, `"`)
	hint := "the node's certificate and this one must be issued by the same federation CA, the ca.crt of the TLS directory"
	switch {
	case strings.Contains(reason, "not valid for"):
		hint = "the node's certificate does not name the host dialed: dial an address it was issued for (jointly ca issue --host)"
	case strings.Contains(reason, "expired certificate"):
		hint = "the node refused this side's certificate as expired: renew it with jointly ca renew, or check this machine's clock"
	case strings.Contains(reason, "certificate has expired or is not"):
		hint = "the node's certificate has expired or is not valid yet: its owner renews it with jointly ca renew; or check this machine's clock"
	}
	return "the TLS handshake failed: " + reason + " (" + hint + ")"
}

// remoteError is a peer's error: its message as the peer wrote it, and the
// sentinel it named.
type remoteError struct {
	sentinel error
	msg      string
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }
