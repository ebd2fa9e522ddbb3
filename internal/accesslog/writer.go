package accesslog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/DeRuina/timberjack"
)

// Writer defaults.
const (
	defaultMaxSizeMB        = 100
	defaultRotationInterval = 24 * time.Hour
	defaultFlushInterval    = time.Second
	defaultFlushBytes       = 64 << 10
	defaultMaxBufferBytes   = 4 << 20
	// maxWriteBytes bounds one write to the destination. timberjack refuses a
	// write larger than the file's maximum size, and rotation can only
	// happen between writes; cuts are made at line ends.
	maxWriteBytes = 256 << 10
)

// ErrDropped is returned by Writer.Write when the line was dropped because
// the buffer is full (the destination is not keeping up) or the Writer is
// closed.
var ErrDropped = errors.New("log line dropped")

// WriterOptions configures a Writer. The zero value of every field but Path
// means its default.
type WriterOptions struct {
	// Path is the destination: a file path, "-" for standard output, or ""
	// or "off" to discard every line.
	Path string
	// MaxSizeMB rotates the file before it would grow beyond this many
	// megabytes (default 100).
	MaxSizeMB int
	// RotationInterval rotates the file at least this often (default 24h;
	// negative disables time-based rotation).
	RotationInterval time.Duration
	// MaxBackups and MaxAgeDays limit the rotated files kept; 0 keeps all.
	MaxBackups int
	MaxAgeDays int
	// DisableCompression keeps rotated files as they are instead of gzip.
	DisableCompression bool
	// FlushInterval is the longest a line waits in the buffer (default and
	// maximum 1s).
	FlushInterval time.Duration
	// FlushBytes buffered bytes start a flush before FlushInterval ends
	// (default 64 KiB).
	FlushBytes int
	// MaxBufferBytes bounds the buffer: while the destination is too slow
	// to take more, new lines are dropped and counted rather than making a
	// handshake wait (default 4 MiB).
	MaxBufferBytes int
	// Stdout is the destination of Path "-" (default os.Stdout).
	Stdout io.Writer
}

// WriterStats counts what a Writer did.
type WriterStats struct {
	Lines       uint64 // lines accepted into the buffer
	Dropped     uint64 // lines lost: buffer full, Writer closed, or a failed write
	WriteErrors uint64 // failed writes to the destination
}

// Writer buffers log lines and writes them to their destination from one
// background goroutine, at least every FlushInterval. It is safe for
// concurrent use. Its methods do nothing on a Writer whose Path is off.
//
// Appending takes one mutex for the time of a copy (or, for WriteConn, of
// formatting the line in place) and never waits for I/O: the goroutine swaps
// the buffer out under the mutex and writes it after releasing it. The two
// buffers are reused, so a steady stream of lines allocates nothing.
type Writer struct {
	out      io.Writer
	closeOut func() error // nil for stdout

	flushBytes, maxBuffer int

	mu     sync.Mutex
	buf    []byte // lines not yet handed to the goroutine
	stats  WriterStats
	closed bool

	kick     chan struct{}   // buffer passed flushBytes; capacity 1
	flushReq chan chan error // Flush waits for its reply
	stop     chan struct{}   // closed by Close
	done     chan struct{}   // closed when the goroutine has exited
	closeErr error           // set by the goroutine before done
}

// NewWriter returns a Writer for opts and starts its goroutine. For a file,
// it creates the directory and opens the file once, so that a path that
// cannot be written is reported now rather than at the first connection.
func NewWriter(opts WriterOptions) (*Writer, error) {
	w := &Writer{
		flushBytes: orDefault(opts.FlushBytes, defaultFlushBytes),
		maxBuffer:  orDefault(opts.MaxBufferBytes, defaultMaxBufferBytes),
	}
	interval := opts.FlushInterval
	switch {
	case interval == 0:
		interval = defaultFlushInterval
	case interval < 0 || interval > defaultFlushInterval:
		return nil, fmt.Errorf("log flush interval %v: must be between 0 and 1s", interval)
	}
	switch opts.Path {
	case "", "off":
		return w, nil // out == nil: disabled
	case "-":
		w.out = opts.Stdout
		if w.out == nil {
			w.out = os.Stdout
		}
	default:
		if err := checkWritable(opts.Path); err != nil {
			return nil, err
		}
		rotation := opts.RotationInterval
		if rotation == 0 {
			rotation = defaultRotationInterval
		}
		lj := &timberjack.Logger{
			Filename:         opts.Path,
			MaxSize:          orDefault(opts.MaxSizeMB, defaultMaxSizeMB),
			MaxBackups:       opts.MaxBackups,
			MaxAge:           opts.MaxAgeDays,
			Compress:         !opts.DisableCompression,
			RotationInterval: max(rotation, 0),
		}
		w.out, w.closeOut = lj, lj.Close
	}
	w.buf = make([]byte, 0, w.flushBytes)
	w.kick = make(chan struct{}, 1)
	w.flushReq = make(chan chan error)
	w.stop = make(chan struct{})
	w.done = make(chan struct{})
	go w.run(interval)
	return w, nil
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

func checkWritable(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("opening log file: %w", err)
	}
	// 0600 is the mode timberjack gives the files it creates; an existing
	// file keeps its own.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("opening log file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("opening log file: %w", err)
	}
	return nil
}

// Enabled reports whether lines go anywhere; callers may skip building a
// record when they do not.
func (w *Writer) Enabled() bool {
	return w.out != nil
}

// WriteConn appends the connection-log line of r. It never waits for I/O;
// when the buffer is full the line is dropped and counted.
func (w *Writer) WriteConn(r *ConnRecord) { writeRecord(w, r, AppendConnLine) }

// WriteAccess appends the access-log line of r, like WriteConn.
func (w *Writer) WriteAccess(r *AccessRecord) { writeRecord(w, r, AppendAccessLine) }

// writeRecord formats r straight into the buffer under the mutex, so a line
// costs no allocation and no copy.
func writeRecord[R any](w *Writer, r *R, appendLine func([]byte, *R) []byte) {
	if w.out == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.admit(1) {
		return
	}
	w.buf = appendLine(w.buf, r)
	w.appended(1)
}

// Write appends p, which must hold whole lines, newline-terminated. It never
// waits for I/O: when the buffer is full it drops p and returns ErrDropped.
// On a disabled Writer it discards p and reports success.
func (w *Writer) Write(p []byte) (int, error) {
	if w.out == nil {
		return len(p), nil
	}
	lines := countLines(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.admit(lines) {
		return 0, ErrDropped
	}
	w.buf = append(w.buf, p...)
	w.appended(lines)
	return len(p), nil
}

// admit reports whether more lines fit, counting them as dropped if not.
// w.mu is held.
func (w *Writer) admit(lines uint64) bool {
	if w.closed || len(w.buf) >= w.maxBuffer {
		w.stats.Dropped += lines
		return false
	}
	return true
}

// appended counts the lines just appended and wakes the goroutine early
// when enough has accumulated. w.mu is held; the send never blocks.
func (w *Writer) appended(lines uint64) {
	w.stats.Lines += lines
	if len(w.buf) >= w.flushBytes {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// Flush writes every line appended before the call and returns the error of
// that write, if any. It waits for the destination.
func (w *Writer) Flush() error {
	if w.out == nil {
		return nil
	}
	reply := make(chan error, 1)
	select {
	case w.flushReq <- reply:
		return <-reply
	case <-w.done:
		return nil // closed: Close flushed everything
	}
}

// Close flushes the buffer, stops the goroutine and closes the file.
// Lines written afterwards are dropped. It returns the error of the last
// flush or of closing the file; a second Close returns nil.
func (w *Writer) Close() error {
	if w.out == nil {
		return nil
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		<-w.done // a concurrent Close may still be flushing
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	return w.closeErr
}

// Stats returns the counters so far.
func (w *Writer) Stats() WriterStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

// run is the goroutine that owns the destination: only it writes, so writes
// never interleave and never happen under w.mu.
func (w *Writer) run(interval time.Duration) {
	defer close(w.done)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	spare := make([]byte, 0, w.flushBytes)
	for {
		select {
		case <-ticker.C:
			w.flush(&spare)
		case <-w.kick:
			w.flush(&spare)
		case reply := <-w.flushReq:
			reply <- w.flush(&spare)
		case <-w.stop:
			err := w.flush(&spare)
			if w.closeOut != nil {
				err = errors.Join(err, w.closeOut())
			}
			w.closeErr = err
			return
		}
	}
}

// flush swaps the buffer for *spare under the mutex, writes the old buffer
// without it, and keeps the old buffer as the next spare.
func (w *Writer) flush(spare *[]byte) error {
	w.mu.Lock()
	pending := w.buf
	w.buf = (*spare)[:0]
	w.mu.Unlock()

	var err error
	for rest := pending; len(rest) > 0; {
		chunk := rest
		if len(chunk) > maxWriteBytes {
			if i := bytes.LastIndexByte(chunk[:maxWriteBytes], '\n'); i >= 0 {
				chunk = chunk[:i+1]
			}
		}
		var n int
		n, err = w.out.Write(chunk)
		if err != nil {
			lost := countLines(rest[n:])
			w.mu.Lock()
			w.stats.WriteErrors++
			w.stats.Dropped += lost
			w.mu.Unlock()
			err = fmt.Errorf("writing log: %w", err)
			break
		}
		rest = rest[len(chunk):]
	}

	// The buffer is kept whatever its size: a burst grows the two buffers
	// once, up to about MaxBufferBytes each, and later bursts reuse them
	// instead of allocating again.
	*spare = pending[:0]
	return err
}

func countLines(p []byte) uint64 {
	return uint64(bytes.Count(p, []byte{'\n'}))
}
