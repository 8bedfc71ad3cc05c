package party

import (
	"bytes"
	"fmt"
	"io"

	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// chunkReceiver is a stream of Chunk messages.
type chunkReceiver interface{ Recv() (*pb.Chunk, error) }

// recvChunks reassembles a chunked object, refusing objects over limit bytes
// or whose chunks disagree about the total size.
func recvChunks(s chunkReceiver, limit uint64) ([]byte, error) {
	var buf bytes.Buffer
	var total uint64
	for first := true; ; first = false {
		c, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if first {
			total = c.TotalSize
			if total > limit {
				return nil, fmt.Errorf("%w: object of %d bytes exceeds the limit of %d", ErrBadPeerMessage, total, limit)
			}
			buf.Grow(int(total))
		}
		if c.TotalSize != total || uint64(buf.Len()+len(c.Data)) > total || len(c.Data) > chunkSize {
			return nil, fmt.Errorf("%w: inconsistent chunk stream", ErrBadPeerMessage)
		}
		buf.Write(c.Data)
	}
	if uint64(buf.Len()) != total {
		return nil, fmt.Errorf("%w: stream ended after %d of %d bytes", ErrBadPeerMessage, buf.Len(), total)
	}
	return buf.Bytes(), nil
}

// sendChunks streams b in chunks of at most chunkSize.
func sendChunks(send func(*pb.Chunk) error, b []byte) error {
	total := uint64(len(b))
	for off := 0; ; off += chunkSize {
		end := min(off+chunkSize, len(b))
		if err := send(&pb.Chunk{TotalSize: total, Data: b[off:end]}); err != nil {
			return err
		}
		if end == len(b) {
			return nil
		}
	}
}
