package source

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// TestWalkThrift: a well-formed page header walks to its exact length, and
// a structure whose byte string, list or nesting claims more than the
// input holds is refused without allocating what it claims.
func TestWalkThrift(t *testing.T) {
	h := format.PageHeader{Type: format.DataPage, UncompressedPageSize: 100, CompressedPageSize: 80}
	h.DataPageHeader.Valid, h.DataPageHeader.V.NumValues = true, 10
	good, err := thrift.Marshal(new(thrift.CompactProtocol), &h)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := walkThrift(append(good, 1, 2, 3)); err != nil || n != len(good) {
		t.Fatalf("walk of a %d-byte header: %d, %v", len(good), n, err)
	}
	for name, tc := range map[string][]byte{
		"binary of 2^31 bytes": {0x18, 0xff, 0xff, 0xff, 0xff, 0x07, 0},
		"list of 2^31 i32":     {0x19, 0xf5, 0xff, 0xff, 0xff, 0xff, 0x07, 0},
		"map of 2^31 entries":  {0x1b, 0xff, 0xff, 0xff, 0xff, 0x07, 0x55, 0},
		"truncated":            good[:len(good)-1],
		"nested too deep":      bytes.Repeat([]byte{0x1c}, 2*thriftMaxDepth),
		"unknown type":         {0x1e, 0},
	} {
		before := totalAlloc()
		_, err := walkThrift(tc)
		after := totalAlloc()
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
		if name != "nested too deep" && name != "unknown type" && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: %v, want io.ErrUnexpectedEOF", name, err)
		}
		if d := after - before; d > 1<<16 {
			t.Errorf("%s: walking allocated %d bytes", name, d)
		}
	}
}

func totalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}
