package party

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/party/pki"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// Client is a querier's connection to one node. For every query it draws an
// ephemeral key pair; the node returns the result encrypted under that key,
// and only the client decrypts it.
type Client struct {
	conn    *grpc.ClientConn
	timeout time.Duration
}

// Dial connects to a node at addr without TLS (loopback development) unless
// opts carry transport credentials; see DialTLS.
func Dial(addr string, timeout time.Duration, opts ...grpc.DialOption) (*Client, error) {
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	dopts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageSize), grpc.MaxCallSendMsgSize(maxMessageSize)),
	}, opts...)
	conn, err := grpc.NewClient(addr, dopts...)
	if err != nil {
		return nil, fmt.Errorf("party: dial %s: %w", addr, err)
	}
	return &Client{conn: conn, timeout: timeout}, nil
}

// DialTLS connects to node expectNode at addr with mutual TLS as identity
// name, whose certificate, key and federation CA are in dir (as written by
// `jointly ca issue`).
func DialTLS(addr, dir, name, expectNode string, timeout time.Duration) (*Client, error) {
	cfg, err := pki.LoadClientTLS(dir, name, expectNode)
	if err != nil {
		return nil, err
	}
	return Dial(addr, timeout, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Info asks the node to describe itself; with mutual TLS it includes the
// caller's budget if the caller is a querier the node admits.
func (c *Client) Info(ctx context.Context) (*NodeInfo, error) { return c.InfoFor(ctx, "") }

// InfoFor is Info for a caller that names the querier it speaks for, as
// it must in loopback development without certificates to learn its
// budget; with mutual TLS the certificate says who calls.
func (c *Client) InfoFor(ctx context.Context, querier string) (*NodeInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	r, err := pb.NewQueryClient(c.conn).Info(ctx, &pb.InfoRequest{Querier: querier})
	if err != nil {
		if refused := certificateRefused(err); refused != "" {
			return nil, fmt.Errorf("info on %s: %w: %s", c.conn.Target(), ErrUnknownParty, refused)
		}
		return nil, fromStatus(c.conn.Target(), "info", err)
	}
	return infoFromProto(r), nil
}

// querySession is what one query needs on the querier's side: the node's
// description and parameters, a fresh one-time key pair and a query id.
type querySession struct {
	info   *NodeInfo
	params rlwe.Parameters
	sk     *rlwe.SecretKey
	pk     []byte // wire encoding of the public key
	id     string
}

func (c *Client) newSession(ctx context.Context) (*querySession, error) {
	info, err := c.Info(ctx)
	if err != nil {
		return nil, err
	}
	preset, err := crypto.LookupPreset(info.Preset)
	if err != nil {
		return nil, fmt.Errorf("party: node %s uses preset %q unknown to this client: %w", info.Node, info.Preset, err)
	}
	params, err := preset.Parameters()
	if err != nil {
		return nil, err
	}
	sk, pk := rlwe.NewKeyGenerator(params).GenKeyPairNew()
	pkBytes, err := crypto.MarshalWire(params, pk)
	if err != nil {
		return nil, err
	}
	id, err := newQueryID()
	if err != nil {
		return nil, err
	}
	return &querySession{info: info, params: params, sk: sk, pk: pkBytes, id: id}, nil
}

func newQueryID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("party: query id: %w", err)
	}
	return hex.EncodeToString(b), nil
}
