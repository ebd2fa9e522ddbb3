package engine

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/mtlslb/mtlslb/internal/accesslog"
	"github.com/mtlslb/mtlslb/internal/listen"
	"github.com/mtlslb/mtlslb/internal/truststore"
)

// logSink is one connection-log destination, shared by every snapshot that names it.
type logSink struct {
	path string
	w    *accesslog.Writer
	refs int // snapshots using it; guarded by logRegistry.mu
}

// logRegistry keeps one writer per destination across reloads, so a reload never loses or interleaves
// lines and a log file is opened once.
type logRegistry struct {
	mu    sync.Mutex
	sinks map[string]*logSink
}

func newLogRegistry() *logRegistry { return &logRegistry{sinks: map[string]*logSink{}} }

// acquire opens (or reuses) every destination snap names and takes a reference on each.
func (r *logRegistry) acquire(snap *snapshot) (map[string]*logSink, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := map[string]*logSink{}
	for path := range snap.logPaths {
		s := r.sinks[path]
		if s == nil {
			w, err := accesslog.NewWriter(accesslog.WriterOptions{Path: path})
			if err != nil {
				for _, s := range got {
					r.releaseLocked(s)
				}
				return nil, fmt.Errorf("attributes.connection_logs.path: %w", err)
			}
			s = &logSink{path: path, w: w}
			r.sinks[path] = s
		}
		s.refs++
		got[path] = s
	}
	return got, nil
}

// release drops snap's references, closing destinations nobody uses any more.
func (r *logRegistry) release(snap *snapshot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for path := range snap.logPaths {
		if s := r.sinks[path]; s != nil {
			r.releaseLocked(s)
		}
	}
}

func (r *logRegistry) releaseLocked(s *logSink) {
	s.refs--
	if s.refs <= 0 {
		delete(r.sinks, s.path)
		_ = s.w.Close()
	}
}

func (r *logRegistry) flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, s := range r.sinks {
		errs = append(errs, s.w.Flush())
	}
	return errors.Join(errs...)
}

func (r *logRegistry) closeAll() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for path, s := range r.sinks {
		errs = append(errs, s.w.Close())
		delete(r.sinks, path)
	}
	return errors.Join(errs...)
}

// FlushLogs writes out buffered log lines now.
func (e *Engine) FlushLogs() error { return e.logs.flush() }

// connRecord builds the connection-log record of a handshake.
func (e *Engine) connRecord(g *listenerGen, h listen.Handshake, cs tls.ConnectionState, status truststore.Status, leaf *x509.Certificate) accesslog.ConnRecord {
	rec := accesslog.ConnRecord{
		Time:        e.opts.Now(),
		TLSVersion:  cs.Version,
		CipherSuite: cs.CipherSuite,
		Leaf:        leaf,
		Status:      status.String(),
		TraceID:     accesslog.TraceID(h.Conn.TraceID),
		KeyExchange: cs.CurveID,
		ELB:         g.elb,
	}
	if h.Err == nil {
		rec.HandshakeLatency = h.Latency
	} else {
		rec.HandshakeLatency = accesslog.NoLatency
	}
	if ta, ok := h.Conn.RemoteAddr().(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		rec.Client = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	if ta, ok := h.Conn.LocalAddr().(*net.TCPAddr); ok {
		// The port that accepted the connection is the listener's port, also when the document said 0.
		ap := ta.AddrPort()
		rec.Local, rec.ListenerPort = ap.Addr().Unmap(), ap.Port()
	}
	return rec
}

func newTraceID() [16]byte { return accesslog.NewTraceID() }
