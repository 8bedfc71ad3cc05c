package source_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/jointly-dev/jointly/party/source"
	"github.com/jointly-dev/jointly/party/synth"
)

// maxFuzzFile bounds the files the fuzz targets write: every seed is far
// smaller, and a parser's bugs show on small inputs; a large one only
// makes each run, and the minimization of what it finds, slow.
const maxFuzzFile = 64 << 10

// fuzzFile returns the path of one file per fuzz worker and a function
// that puts an input in it. Rewriting the same file in place is cheap; a
// new file per input (t.TempDir) costs a millisecond, and truncating a file
// to zero before rewriting it makes ext4 flush it to disk.
func fuzzFile(f *testing.F, name string) (string, func(t *testing.T, data []byte)) {
	path := filepath.Join(f.TempDir(), name)
	file, err := os.Create(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { file.Close() })
	return path, func(t *testing.T, data []byte) {
		if _, err := file.WriteAt(data, 0); err != nil {
			t.Fatal(err)
		}
		if err := file.Truncate(int64(len(data))); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzCSV feeds arbitrary bytes to the CSV source: it must return rows or
// one of the package's errors, never panic.
func FuzzCSV(f *testing.F) {
	f.Add([]byte("email,phone,consent,spend_alcohol,band\na@example.com,2125550101,true,12.5,young\n"))
	f.Add([]byte("email,phone,consent,spend_alcohol,band\n\"a,b\",1,0,1e400,old\n"))
	f.Add([]byte("customer_id,email,phone,consent,category,amount\nC1,a@x,1,yes,alcohol,1\n"))
	f.Add([]byte("\ufeffemail,phone\n"))
	p, write := fuzzFile(f, "f.csv")
	cols := []source.Column{
		{Name: "spend_alcohol", Type: source.TypeNumeric, Lo: f64(0), Hi: f64(100)},
		{Name: "band", Type: source.TypeCategorical, Levels: []string{"young", "old"}},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzFile {
			return
		}
		write(t, data)
		for _, cfg := range []source.Config{
			{Kind: "csv", Path: p, Columns: cols},
			{Kind: "csv", Path: p, Transactions: &source.Transactions{}, Columns: cols[:1]},
		} {
			_, err := source.Scan(context.Background(), cfg, opts, func(r *source.Row) error {
				if v := r.Values[0]; v < 0 || v > 100 {
					t.Fatalf("value %v outside the declared bounds", v)
				}
				return nil
			})
			if err != nil && !isSourceErr(err) {
				t.Fatalf("unexpected error kind: %v", err)
			}
		}
	})
}

// maxParquetAlloc bounds what reading one fuzz input may allocate. A
// damaged file of a few kilobytes once made the Parquet library allocate
// 3.7 GiB (the length its footer claimed), which killed the fuzzer.
const maxParquetAlloc = 256 << 20

// FuzzParquet feeds arbitrary bytes to the Parquet source: a damaged file
// must give an error, never a panic, and must not make the reader allocate
// far beyond its size.
func FuzzParquet(f *testing.F) {
	d := f.TempDir()
	if _, err := synth.Generate(context.Background(), synth.Options{Dir: d, Customers: 20, Seed: 1, Format: synth.FormatParquet}); err != nil {
		f.Fatal(err)
	}
	seed, err := os.ReadFile(filepath.Join(d, "insurer.parquet"))
	if err != nil {
		f.Fatal(err)
	}
	if len(seed) > maxFuzzFile {
		f.Fatalf("seed of %d bytes", len(seed))
	}
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add([]byte("PAR1PAR1"))
	p, write := fuzzFile(f, "f.parquet")
	cols := insurerColumns()
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzFile {
			return
		}
		write(t, data)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := source.Scan(context.Background(), source.Config{Kind: "parquet", Path: p, Columns: cols}, opts,
			func(r *source.Row) error { return nil })
		runtime.ReadMemStats(&after)
		if err != nil && !isSourceErr(err) && !errorsIsSchema(err) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > maxParquetAlloc {
			t.Fatalf("reading %d bytes allocated %d MiB", len(data), got>>20)
		}
	})
}
