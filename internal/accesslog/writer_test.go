package accesslog

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/DeRuina/timberjack"
)

// lockedBuffer is a destination that tests can read while the Writer's
// goroutine writes to it.
type lockedBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes []int
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes = append(b.writes, len(p))
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newStdoutWriter(t *testing.T, out io.Writer, opts WriterOptions) *Writer {
	t.Helper()
	opts.Path, opts.Stdout = "-", out
	w, err := NewWriter(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func sampleRecord(t testing.TB) *ConnRecord {
	t.Helper()
	r := connCases(t)[0].rec
	return &r
}

func TestWriterStdoutFlushAndClose(t *testing.T) {
	out := &lockedBuffer{}
	w := newStdoutWriter(t, out, WriterOptions{})
	r := sampleRecord(t)
	w.WriteConn(r)
	if _, err := w.Write([]byte("raw line 1\nraw line 2\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := string(AppendConnLine(nil, r)) + "raw line 1\nraw line 2\n"
	if got := out.String(); got != want {
		t.Fatalf("output %q, want %q", got, want)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := w.Flush(); err != nil {
		t.Errorf("Flush after Close: %v", err)
	}
	w.WriteConn(r)
	if _, err := w.Write([]byte("late\n")); !errors.Is(err, ErrDropped) {
		t.Errorf("Write after Close: %v, want ErrDropped", err)
	}
	if s := w.Stats(); s != (WriterStats{Lines: 3, Dropped: 2}) {
		t.Errorf("Stats = %+v", s)
	}
}

func TestWriterOff(t *testing.T) {
	for _, path := range []string{"", "off"} {
		w, err := NewWriter(WriterOptions{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		if w.Enabled() {
			t.Errorf("%q: enabled", path)
		}
		w.WriteConn(sampleRecord(t))
		if n, err := w.Write([]byte("x\n")); n != 2 || err != nil {
			t.Errorf("%q: Write = %d, %v", path, n, err)
		}
		if w.Flush() != nil || w.Close() != nil || w.Stats() != (WriterStats{}) {
			t.Errorf("%q: disabled writer did something", path)
		}
	}
}

// TestWriterPeriodicFlush checks, on synctest's fake clock, that a line
// waits at most FlushInterval.
func TestWriterPeriodicFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &lockedBuffer{}
		w := newStdoutWriter(t, out, WriterOptions{})
		w.WriteConn(sampleRecord(t))
		time.Sleep(999 * time.Millisecond)
		synctest.Wait()
		if out.String() != "" {
			t.Fatal("flushed before the interval")
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if out.String() == "" {
			t.Fatal("not flushed after 1s")
		}
	})
}

func TestWriterEarlyFlushOnSize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &lockedBuffer{}
		w := newStdoutWriter(t, out, WriterOptions{FlushBytes: 500})
		r := sampleRecord(t)
		for range 3 { // about 750 bytes: the second line crosses FlushBytes
			w.WriteConn(r)
		}
		synctest.Wait() // no time passes
		// The flush the second line started may or may not take the third with it; at least the lines that
		// crossed the threshold are out without waiting for the interval.
		if got := strings.Count(out.String(), "\n"); got < 2 {
			t.Fatalf("%d lines written, want at least 2 without waiting", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := strings.Count(out.String(), "\n"); got != 3 {
			t.Fatalf("%d lines written after the interval, want 3", got)
		}
	})
}

// blockingWriter blocks every Write until release is closed, like a pipe
// nobody reads.
type blockingWriter struct {
	release chan struct{}
	lockedBuffer
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	<-b.release
	return b.lockedBuffer.Write(p)
}

func TestWriterDropsInsteadOfBlocking(t *testing.T) {
	out := &blockingWriter{release: make(chan struct{})}
	w := newStdoutWriter(t, out, WriterOptions{FlushBytes: 1000, MaxBufferBytes: 4000})
	r := sampleRecord(t)
	// The goroutine takes the first full buffer and blocks writing it; the
	// next buffer fills up to MaxBufferBytes; the rest is dropped. None of
	// these calls may wait.
	for range 200 {
		w.WriteConn(r)
	}
	s := w.Stats()
	if s.Dropped == 0 || s.Lines+s.Dropped != 200 {
		t.Fatalf("Stats = %+v, want drops and 200 lines in all", s)
	}
	close(out.release)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := uint64(strings.Count(out.String(), "\n")); got != s.Lines {
		t.Errorf("%d lines written, %d accepted", got, s.Lines)
	}
}

type failingWriter struct{}

func (failingWriter) Write(p []byte) (int, error) { return 0, errors.New("disk full") }

func TestWriterWriteError(t *testing.T) {
	w := newStdoutWriter(t, failingWriter{}, WriterOptions{})
	r := sampleRecord(t)
	w.WriteConn(r)
	w.WriteConn(r)
	err := w.Flush()
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Flush = %v, want the write error", err)
	}
	if s := w.Stats(); s != (WriterStats{Lines: 2, Dropped: 2, WriteErrors: 1}) {
		t.Errorf("Stats = %+v", s)
	}
	if err := w.Flush(); err != nil {
		t.Errorf("empty Flush after an error: %v", err)
	}
}

func TestWriterChunksAtLineEnds(t *testing.T) {
	out := &lockedBuffer{}
	w := newStdoutWriter(t, out, WriterOptions{FlushBytes: 2 << 20, MaxBufferBytes: 4 << 20})
	line := []byte(strings.Repeat("x", 999) + "\n")
	for range 700 { // 700,000 bytes: more than two maxWriteBytes
		if _, err := w.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	if len(out.writes) < 3 {
		t.Errorf("%d writes, want at least 3", len(out.writes))
	}
	for _, n := range out.writes {
		if n > maxWriteBytes || n%len(line) != 0 {
			t.Errorf("write of %d bytes: too large or not at a line end", n)
		}
	}
	if out.buf.Len() != 700*len(line) {
		t.Errorf("%d bytes written", out.buf.Len())
	}
}

func TestWriterConcurrent(t *testing.T) {
	out := &lockedBuffer{}
	w := newStdoutWriter(t, out, WriterOptions{FlushBytes: 4096})
	r := sampleRecord(t)
	const goroutines, lines = 8, 500
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range lines {
				w.WriteConn(r)
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := string(AppendConnLine(nil, r))
	got := out.String()
	if strings.Count(got, want) != goroutines*lines || len(got) != goroutines*lines*len(want) {
		t.Fatalf("output is not %d whole lines", goroutines*lines)
	}
}

func TestWriterFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "logs", "connection.log")
	// Compression is left out here: timberjack compresses rotated files in
	// a goroutine of its own that outlives Close, which would race with the
	// removal of the test's directory. TestWriterFileOptions checks that it
	// is on by default.
	w, err := NewWriter(WriterOptions{Path: path, MaxSizeMB: 1, DisableCompression: true})
	if err != nil {
		t.Fatal(err)
	}
	r := sampleRecord(t)
	line := AppendConnLine(nil, r)
	n := (1<<20)/len(line) + 100 // enough to pass 1 MB once
	for range n {
		w.WriteConn(r)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if s := w.Stats(); s.Dropped != 0 || s.Lines != uint64(n) {
		t.Fatalf("Stats = %+v", s)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	var total int
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", e.Name(), info.Mode().Perm())
		}
		data, err := os.ReadFile(filepath.Join(filepath.Dir(path), e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		total += bytes.Count(data, line)
	}
	if len(entries) < 2 {
		t.Errorf("%d files, want the log and at least one rotated file", len(entries))
	}
	if total != n {
		t.Errorf("%d lines on disk, %d written", total, n)
	}
}

func TestWriterFileOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "conn.log")
	// rotation is the part of timberjack.Logger's configuration that
	// NewWriter sets (the Logger itself holds a mutex and cannot be copied).
	type rotation struct {
		Filename                    string
		MaxSize, MaxBackups, MaxAge int
		Compress                    bool
		RotationInterval            time.Duration
	}
	tests := []struct {
		name string
		opts WriterOptions
		want rotation
	}{
		{"defaults", WriterOptions{Path: path}, rotation{
			Filename: path, MaxSize: 100, Compress: true, RotationInterval: 24 * time.Hour,
		}},
		{"all set", WriterOptions{Path: path, MaxSizeMB: 5, RotationInterval: time.Hour, MaxBackups: 3, MaxAgeDays: 7, DisableCompression: true}, rotation{
			Filename: path, MaxSize: 5, RotationInterval: time.Hour, MaxBackups: 3, MaxAge: 7,
		}},
		{"no time rotation", WriterOptions{Path: path, RotationInterval: -1}, rotation{
			Filename: path, MaxSize: 100, Compress: true,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := NewWriter(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			l := w.out.(*timberjack.Logger)
			got := rotation{l.Filename, l.MaxSize, l.MaxBackups, l.MaxAge, l.Compress, l.RotationInterval}
			if got != tt.want {
				t.Errorf("rotation = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNewWriterErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts WriterOptions
	}{
		{"flush interval too long", WriterOptions{Path: "-", FlushInterval: 2 * time.Second}},
		{"negative flush interval", WriterOptions{Path: "-", FlushInterval: -time.Second}},
		{"directory is a file", WriterOptions{Path: filepath.Join(file, "conn.log")}},
		{"path is a directory", WriterOptions{Path: t.TempDir()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if w, err := NewWriter(tt.opts); err == nil {
				w.Close()
				t.Fatal("NewWriter succeeded")
			}
		})
	}
}

// BenchmarkWriterWriteConn measures one goroutine logging, the flusher
// running beside it.
func BenchmarkWriterWriteConn(b *testing.B) {
	w, err := NewWriter(WriterOptions{Path: "-", Stdout: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	r := sampleRecord(b)
	b.ReportAllocs()
	for b.Loop() {
		w.WriteConn(r)
	}
	b.ReportMetric(float64(w.Stats().Dropped)/float64(b.N), "dropped/op")
}

// BenchmarkWriterWriteConnParallel has every P log without pause: a worst
// case in which the flusher runs only when the scheduler preempts a logger,
// so buffers grow past FlushBytes (the B/op) and lines may be dropped.
func BenchmarkWriterWriteConnParallel(b *testing.B) {
	w, err := NewWriter(WriterOptions{Path: "-", Stdout: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	r := sampleRecord(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w.WriteConn(r)
		}
	})
	b.ReportMetric(float64(w.Stats().Dropped)/float64(b.N), "dropped/op")
}
