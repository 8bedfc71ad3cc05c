package journal

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/jointly-dev/jointly/party/fsutil"
)

var (
	// ErrLocked reports a journal already open in another process.
	ErrLocked = errors.New("journal: file in use by another process")
	// ErrCorrupt reports a complete line that is not a JSON object with
	// seq and prev, or that does not chain to the line before it; the
	// error names the line.
	ErrCorrupt = errors.New("journal: broken chain")
	// ErrInvalidLine reports a line Append refuses: it contains a newline
	// or does not extend the chain at the head. Nothing was written.
	ErrInvalidLine = errors.New("journal: invalid line")
	// ErrFailed reports a journal that refuses appends: a write or fsync
	// failed, so the file's end is unknown, or the journal is closed.
	ErrFailed = errors.New("journal: failed")
)

// Sentinels are a journal user's own errors for the journal's ErrLocked,
// ErrCorrupt and ErrFailed.
type Sentinels struct{ Locked, Corrupt, Failed error }

// Wrap gives an error of the journal the user's sentinel as well, so that
// the user's callers test for the user's errors only; other errors pass
// through unchanged.
func (s Sentinels) Wrap(err error) error {
	for _, m := range [...]struct{ journal, own error }{
		{ErrLocked, s.Locked},
		{ErrCorrupt, s.Corrupt},
		{ErrFailed, s.Failed},
	} {
		if errors.Is(err, m.journal) {
			return fmt.Errorf("%w: %w", m.own, err)
		}
	}
	return err
}

// Genesis is the prev of the first line: the hex encoding of 32 zero bytes.
var Genesis = hex.EncodeToString(make([]byte, sha256.Size))

// Head identifies a position in a journal: a line's sequence number and
// the hex SHA-256 of its bytes. An empty journal's head is {0, Genesis}.
type Head struct {
	Seq  uint64
	Hash string
}

func (h Head) String() string { return fmt.Sprintf("%d:%s", h.Seq, h.Hash) }

// Hash is the hex SHA-256 of line (without its newline): what the next
// line carries as prev.
func Hash(line []byte) string {
	sum := sha256.Sum256(line)
	return hex.EncodeToString(sum[:])
}

// chain follows a journal line by line. Its zero value is an empty
// journal.
type chain struct{ head Head }

func (c *chain) Head() Head {
	if c.head.Seq == 0 {
		return Head{Hash: Genesis}
	}
	return c.head
}

// envelope is the part of a line the journal reads.
type envelope struct {
	Seq  *uint64 `json:"seq"`
	Prev *string `json:"prev"`
}

// follow returns the head after line, or why line does not extend the
// chain.
func (c *chain) follow(line []byte) (Head, error) {
	var e envelope
	if err := json.Unmarshal(line, &e); err != nil {
		return Head{}, errors.New("not a JSON object")
	}
	head := c.Head()
	switch {
	case e.Seq == nil || e.Prev == nil:
		return Head{}, errors.New("no seq or prev")
	case *e.Seq != head.Seq+1:
		return Head{}, fmt.Errorf("sequence %d, want %d (a line was deleted, inserted or reordered)", *e.Seq, head.Seq+1)
	case *e.Prev != head.Hash:
		return Head{}, errors.New("prev is not the hash of the line before (that line was modified or replaced)")
	}
	return Head{Seq: head.Seq + 1, Hash: Hash(line)}, nil
}

// next advances the chain over line, the lineNo-th of the file.
func (c *chain) next(lineNo int, line []byte) error {
	h, err := c.follow(line)
	if err != nil {
		return fmt.Errorf("%w: line %d: %w", ErrCorrupt, lineNo, err)
	}
	c.head = h
	return nil
}

// Walk calls fn for every complete line of r, without its newline, and
// returns the length of the complete lines and of a trailing partial line.
// It checks nothing; fn may keep line. fn's errors are returned unchanged.
func Walk(r io.Reader, fn func(lineNo int, line []byte) error) (good, torn int64, err error) {
	br := bufio.NewReader(r)
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return good, int64(len(line)), nil
		}
		if err != nil {
			return 0, 0, fmt.Errorf("journal: read: %w", err)
		}
		if err := fn(lineNo, line[:len(line)-1]); err != nil {
			return 0, 0, err
		}
		good += int64(len(line))
	}
}

// CheckFunc verifies one complete line (without its newline) of a replay,
// after the journal checked that it chains, and may record it.
type CheckFunc func(lineNo int, line []byte) error

// Replay reads the journal in r from its start: every complete line must
// chain to the one before it (ErrCorrupt names the first that does not)
// and pass check, which sees the lines in order. It returns the head after
// the last complete line and the length of a trailing partial line, which
// it ignores. A nil check accepts every line that chains.
func Replay(r io.Reader, check CheckFunc) (head Head, torn int64, err error) {
	c, _, torn, err := replay(r, check)
	return c.Head(), torn, err
}

func replay(r io.Reader, check CheckFunc) (chain, int64, int64, error) {
	var c chain
	good, torn, err := Walk(r, func(lineNo int, line []byte) error {
		if err := c.next(lineNo, line); err != nil {
			return err
		}
		if check != nil {
			return check(lineNo, line)
		}
		return nil
	})
	return c, good, torn, err
}

// indexEvery is the spacing of a journal's line index: HashAt reads at
// most this many lines, however long the journal.
const indexEvery = 256

// Journal is an open journal. It is safe for concurrent use; a caller
// that builds a line from Head and then appends it must serialize the two
// itself.
type Journal struct {
	mu     sync.Mutex
	f      *os.File
	path   string
	logger hclog.Logger
	chain  chain
	torn   int64
	failed error
	size   int64   // the length of the complete lines
	index  []int64 // index[k] is the offset of line k*indexEvery + 1
}

// Option configures Open.
type Option func(*Journal)

// WithLogger sets the logger that reports recovery from a torn line; the
// journal logs under the logger's name, its owner's.
func WithLogger(l hclog.Logger) Option { return func(j *Journal) { j.logger = l } }

// Open opens or creates the journal at path and takes its lock. It replays
// the file as Replay does, and truncates a trailing partial line (see
// TornBytes). check's errors are returned unchanged, after the file was
// closed.
func Open(path string, check CheckFunc, opts ...Option) (*Journal, error) {
	j := &Journal{path: path, logger: hclog.NewNullLogger()}
	for _, o := range opts {
		o(j)
	}
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, os.ErrNotExist)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: open: %w", err)
	}
	if err := j.open(f, created, check); err != nil {
		f.Close()
		return nil, err
	}
	j.f = f
	return j, nil
}

func (j *Journal) open(f *os.File, created bool, check CheckFunc) error {
	if err := fsutil.Lock(f); err != nil {
		if errors.Is(err, fsutil.ErrLocked) {
			return fmt.Errorf("%w: %s", ErrLocked, j.path)
		}
		return fmt.Errorf("journal: %w", err)
	}
	if created {
		if err := fsutil.SyncDir(filepath.Dir(j.path)); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
	}
	c, good, torn, err := replay(f, func(lineNo int, line []byte) error {
		j.indexLine(uint64(lineNo), int64(len(line))+1)
		if check != nil {
			return check(lineNo, line)
		}
		return nil
	})
	if err != nil {
		return err
	}
	j.chain = c
	if torn > 0 {
		return j.dropTorn(f, good, torn)
	}
	return nil
}

// dropTorn truncates a partial last line. Append returns only after the
// whole line is fsynced, so a partial line belongs to an Append that never
// returned, and nothing was done on its strength.
func (j *Journal) dropTorn(f *os.File, good, n int64) error {
	if err := f.Truncate(good); err != nil {
		return fmt.Errorf("journal: truncate torn line: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("journal: sync: %w", err)
	}
	j.torn = n
	j.logger.Warn("dropped torn last line after a crash", "path", j.path, "bytes", n, "complete_lines", j.chain.head.Seq)
	return nil
}

// TornBytes is the length of the partial last line Open dropped, 0 if none.
func (j *Journal) TornBytes() int64 { return j.torn }

// Head is the position of the last line ({0, Genesis} when empty).
func (j *Journal) Head() Head {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.chain.Head()
}

// indexLine records that line seq, of n bytes with its newline, ends the
// complete lines.
func (j *Journal) indexLine(seq uint64, n int64) {
	if (seq-1)%indexEvery == 0 {
		j.index = append(j.index, j.size)
	}
	j.size += n
}

// HashAt returns the hash of line seq (1 ≤ seq ≤ Head().Seq). It reads at
// most indexEvery lines of the file, from the indexed line before seq.
func (j *Journal) HashAt(seq uint64) (string, error) {
	j.mu.Lock()
	last := j.chain.head.Seq
	var offset int64
	if seq > 0 && seq <= last {
		offset = j.index[(seq-1)/indexEvery]
	}
	j.mu.Unlock()
	if seq == 0 || seq > last {
		return "", fmt.Errorf("journal: no line %d in %s, which has %d", seq, j.path, last)
	}
	f, err := os.Open(j.path)
	if err != nil {
		return "", fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return "", fmt.Errorf("journal: %w", err)
	}
	first := (seq-1)/indexEvery*indexEvery + 1 // the line at offset
	var hash string
	errFound := errors.New("found")
	_, _, err = Walk(f, func(lineNo int, line []byte) error {
		if first+uint64(lineNo)-1 < seq {
			return nil
		}
		// The line must be the one the index says: a file replaced
		// under the open journal is not read as its own.
		var e envelope
		if json.Unmarshal(line, &e) != nil || e.Seq == nil || *e.Seq != seq {
			return fmt.Errorf("%w: another line stands there; the file changed on disk since it was opened", ErrCorrupt)
		}
		hash = Hash(line)
		return errFound
	})
	if hash == "" {
		if err == nil {
			err = fmt.Errorf("%w: the file ends before it; it changed on disk since it was opened", ErrCorrupt)
		}
		return "", fmt.Errorf("journal: line %d of %s: %w", seq, j.path, err)
	}
	return hash, nil
}

// Err is why the journal refuses appends (ErrFailed, after a failed write
// or fsync or Close), nil while it accepts them.
func (j *Journal) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err()
}

func (j *Journal) err() error {
	if j.failed != nil {
		return fmt.Errorf("%w: %w", ErrFailed, j.failed)
	}
	if j.f == nil {
		return fmt.Errorf("%w: closed", ErrFailed)
	}
	return nil
}

// Append writes line, which must extend the chain at Head, and returns the
// new head once the line is on stable storage.
func (j *Journal) Append(line []byte) (Head, error) {
	if bytes.IndexByte(line, '\n') >= 0 {
		return Head{}, fmt.Errorf("%w: contains a newline", ErrInvalidLine)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.err(); err != nil {
		return Head{}, err
	}
	h, err := j.chain.follow(line)
	if err != nil {
		return Head{}, fmt.Errorf("%w: line %d: %w", ErrInvalidLine, j.chain.Head().Seq+1, err)
	}
	// One write of the whole line: O_APPEND places it atomically at the end.
	buf := make([]byte, 0, len(line)+1)
	if _, err := j.f.Write(append(append(buf, line...), '\n')); err != nil {
		j.failed = err
		return Head{}, fmt.Errorf("%w: write: %w", ErrFailed, err)
	}
	if err := j.f.Sync(); err != nil {
		j.failed = err
		return Head{}, fmt.Errorf("%w: sync: %w", ErrFailed, err)
	}
	j.chain.head = h
	j.indexLine(h.Seq, int64(len(line))+1)
	return h, nil
}

// Close releases the file and its lock. Appends after Close fail with
// ErrFailed.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}
