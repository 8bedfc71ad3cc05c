package party

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestStopServerBounded: a handler that never returns, whatever its
// context says, keeps GracefulStop waiting forever. stopServer gives it
// the grace period, then stops hard, logs it, and the caller gets an error.
func TestStopServerBounded(t *testing.T) {
	for _, stuck := range []bool{false, true} {
		name := "idle"
		if stuck {
			name = "stuck-handler"
		}
		t.Run(name, func(t *testing.T) {
			release := make(chan struct{})
			entered := make(chan struct{}, 1)
			defer close(release) // lets the stuck handler go at the end of the test
			s := grpc.NewServer(grpc.UnknownServiceHandler(func(any, grpc.ServerStream) error {
				entered <- struct{}{}
				<-release // ignores its context on purpose
				return nil
			}))
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go s.Serve(lis)
			callErr := make(chan error, 1)
			if stuck {
				conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				go func() {
					callErr <- conn.Invoke(context.Background(), "/jointly.test.Busy/Spin", &emptypb.Empty{}, &emptypb.Empty{})
				}()
				select {
				case <-entered:
				case <-time.After(10 * time.Second):
					t.Fatal("the call never reached its handler")
				}
			}
			var logs syncBuffer
			logger := hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Info})
			const grace = 200 * time.Millisecond
			start := time.Now()
			hard := stopServer(s, grace, logger)
			took := time.Since(start)
			if hard != stuck {
				t.Errorf("stopped hard: %v, want %v", hard, stuck)
			}
			if took > grace+5*time.Second {
				t.Errorf("stopServer took %v with a grace of %v", took, grace)
			}
			if stuck {
				if !strings.Contains(logs.String(), "stopping hard") {
					t.Errorf("no log line for the hard stop; log: %q", logs.String())
				}
				select {
				case err := <-callErr:
					if err == nil {
						t.Error("the cut-off call succeeded")
					}
				case <-time.After(5 * time.Second):
					t.Error("the cut-off call did not return")
				}
			} else if took >= grace {
				t.Errorf("an idle server took %v to stop", took)
			}
		})
	}
}
