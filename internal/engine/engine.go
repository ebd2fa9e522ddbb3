package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mtlslb/mtlslb/internal/balance"
	"github.com/mtlslb/mtlslb/internal/crl"
	"github.com/mtlslb/mtlslb/internal/desync"
	"github.com/mtlslb/mtlslb/internal/health"
	"github.com/mtlslb/mtlslb/internal/httpproxy"
	"github.com/mtlslb/mtlslb/internal/listen"
	"github.com/mtlslb/mtlslb/internal/metrics"
	"github.com/mtlslb/mtlslb/internal/truststore"
	"github.com/mtlslb/mtlslb/internal/upstream"
)

// Options are the process settings of an Engine (not part of the configuration document).
type Options struct {
	Logger *slog.Logger
	// Now is the clock used for certificate validity and log timestamps (default time.Now).
	Now func() time.Time
	// HandshakeTimeout bounds each TLS handshake (default 10 s).
	HandshakeTimeout time.Duration
	// DrainTimeout bounds how long a removed listener, or Shutdown, waits for requests in flight (default 30 s).
	DrainTimeout time.Duration
	// NewTraceID returns connection trace ids (default: crypto/rand).
	NewTraceID func() [16]byte
	// Metrics receives the connection, request, trust-store and configuration metrics; nil records nothing.
	Metrics *metrics.Metrics
	// FetchCRL returns the current copy of a CRL a trust store names by URL (see RemoteCRLs); nil refuses
	// such documents.
	FetchCRL func(url string, interval time.Duration) ([]byte, error)
	// HealthCheckInterval, when set, replaces every target group's health-check interval (and caps its
	// timeout), for tests that cannot wait ALB's minimum of 5 seconds.
	HealthCheckInterval time.Duration
}

// Engine runs the listeners of the applied configuration.
type Engine struct {
	opts Options
	log  *slog.Logger

	applyMu    sync.Mutex // serialises Apply and Shutdown
	current    atomic.Pointer[snapshot]
	listeners  map[string]*listenerRuntime // by listen address; guarded by applyMu
	l4         map[string]*l4Runtime       // TCP and TLS listeners by listen address; guarded by applyMu
	logs       *logRegistry
	transports *transportSet
	targets    *balance.Registry
	drainTimer *time.Timer     // next Retain call for draining targets; guarded by applyMu
	crlCache   *crl.ParseCache // parsed CRLs, reused by the next compile when their bytes did not change
	closed     bool
}

// New returns an Engine that serves nothing until Apply.
func New(opts Options) *Engine {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 10 * time.Second
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 30 * time.Second
	}
	if opts.NewTraceID == nil {
		opts.NewTraceID = newTraceID
	}
	return &Engine{
		opts:       opts,
		log:        opts.Logger,
		listeners:  map[string]*listenerRuntime{},
		l4:         map[string]*l4Runtime{},
		logs:       newLogRegistry(),
		crlCache:   crl.NewParseCache(),
		transports: newTransportSet(),
		targets:    balance.NewRegistry(opts.Now),
	}
}

// listenerRuntime is one listening socket, kept across configuration generations while its address stays.
type listenerRuntime struct {
	addr string
	gen  atomic.Pointer[listenerGen]
	ln   *listen.Listener
	srv  *http.Server
	m    *metrics.ListenerMetrics
	live *liveConns    // verified connections, for revoke_live_connections
	done chan struct{} // closed when Serve returned
}

// Status describes what the engine serves.
type Status struct {
	Revision  int64
	Name      string
	Listeners []string // bound addresses
	AppliedAt time.Time
}

// Status returns the applied snapshot's summary; ok is false before the first successful Apply.
func (e *Engine) Status() (Status, bool) {
	s := e.current.Load()
	if s == nil {
		return Status{}, false
	}
	st := Status{Revision: s.revision, Name: s.name, AppliedAt: s.appliedAt}
	e.applyMu.Lock()
	for _, rt := range e.listeners {
		st.Listeners = append(st.Listeners, rt.ln.Addr().String())
	}
	for _, rt := range e.l4 {
		st.Listeners = append(st.Listeners, rt.server.Addr().String())
	}
	e.applyMu.Unlock()
	sort.Strings(st.Listeners)
	return st, true
}

// Addrs returns the bound address of each listener by its configured address (useful with port 0 in tests).
func (e *Engine) Addrs() map[string]net.Addr {
	e.applyMu.Lock()
	defer e.applyMu.Unlock()
	m := make(map[string]net.Addr, len(e.listeners))
	for addr, rt := range e.listeners {
		m[addr] = rt.ln.Addr()
	}
	for addr, rt := range e.l4 {
		m[addr] = rt.server.Addr()
	}
	return m
}

// Apply compiles doc and, if everything in it is valid and every new socket opens, makes it the running
// configuration. On error nothing changes: the previous configuration keeps serving. For each kept listener
// whose trust store has revoke_live_connections, Apply starts (and does not wait for) a re-verification of the
// listener's live connections against the new trust store.
func (e *Engine) Apply(cd *Compiled) error {
	e.applyMu.Lock()
	defer e.applyMu.Unlock()
	if e.closed {
		return errors.New("engine is shut down")
	}
	snap := cd.snap
	snap.appliedAt = e.opts.Now()
	if prev := e.current.Load(); prev != nil {
		snap.revision = prev.revision + 1
	} else {
		snap.revision = 1
	}

	// Open every new socket first: a port that cannot be bound rejects the whole document.
	type want struct {
		index int
		addr  string
	}
	var wanted []want
	for _, lg := range snap.listeners {
		if _, ok := e.listeners[lg.addr]; !ok {
			wanted = append(wanted, want{lg.index, lg.addr})
		}
	}
	for _, lg := range snap.l4 {
		if _, ok := e.l4[lg.addr]; !ok {
			wanted = append(wanted, want{lg.index, lg.addr})
		}
	}
	opened := map[string]net.Listener{}
	for _, w := range wanted {
		ln, err := net.Listen("tcp", w.addr)
		if err != nil {
			for _, l := range opened {
				_ = l.Close()
			}
			return fmt.Errorf("listeners[%d]: opening %s: %w", w.index, w.addr, err)
		}
		opened[w.addr] = ln
	}

	logs, err := e.logs.acquire(snap)
	if err != nil {
		for _, l := range opened {
			_ = l.Close()
		}
		return err
	}

	if err := e.applyL4Locked(snap, opened, logs); err != nil {
		// Only a programming error gets here (the configuration compiled); the sockets opened for it go.
		for addr, l := range opened {
			if _, started := e.l4[addr]; !started {
				_ = l.Close()
			}
		}
		e.logs.release(snap)
		return err
	}
	prevSnap := e.current.Load()
	for name, g := range snap.groups {
		if g.checker == nil {
			continue
		}
		if prevSnap != nil {
			if pg := prevSnap.groups[name]; pg != nil && pg.checker != nil {
				g.checker.Inherit(pg.checker)
			}
		}
		g.checker.Start(snap.ctx)
	}

	keep := map[string]bool{}
	var recheck []*listenerGen // generations of kept listeners whose trust store revokes live connections
	for _, lg := range snap.listeners {
		keep[lg.addr] = true
		lg.connLog = logs[lg.connLogPath]
		if s := logs[lg.accessLogPath]; s != nil {
			lg.handler.SetAccessLog(s.w)
		}
		if rt, ok := e.listeners[lg.addr]; ok {
			// Swap before marking the old generation retired: recheckStraddling relies on that order.
			if old := rt.gen.Swap(lg); old != nil {
				old.retired.Store(true)
			}
			if lg.revokeLive {
				recheck = append(recheck, lg)
			}
			continue
		}
		rt := e.startListener(opened[lg.addr], lg)
		e.listeners[lg.addr] = rt
	}
	for addr, rt := range e.listeners {
		if !keep[addr] {
			delete(e.listeners, addr)
			rt.gen.Load().retired.Store(true)
			go e.drain(rt)
		}
	}
	e.retainTargetsLocked(snap)
	var keys []upstream.Key
	for _, g := range snap.groups {
		keys = append(keys, g.transportKey)
	}
	e.transports.retain(keys)
	// CRLs the new generation does not use are dropped from the parse cache.
	e.crlCache.Sweep()
	e.recordTrustStores(snap, e.current.Load())
	e.watchStaleCRLs(snap)
	e.opts.Metrics.SetConfig(snap.revision, true, snap.appliedAt)
	prev := e.current.Swap(snap)
	if prev != nil {
		prev.cancel()
		// Log files the new snapshot no longer names are closed once handshakes begun under the old one
		// are over; handshakes are bounded by HandshakeTimeout.
		time.AfterFunc(e.opts.HandshakeTimeout+time.Second, func() { e.logs.release(prev) })
	}
	for _, lg := range recheck {
		go e.revokeLive(snap.ctx, e.listeners[lg.addr], lg)
	}
	e.log.Info("configuration applied", "revision", snap.revision, "listeners", len(snap.listeners), "trust_stores", len(snap.trustStores))
	return nil
}

func (e *Engine) startListener(inner net.Listener, lg *listenerGen) *listenerRuntime {
	rt := &listenerRuntime{addr: lg.addr, done: make(chan struct{}), m: e.opts.Metrics.Listener(lg.addr), live: newLiveConns()}
	rt.gen.Store(lg)
	rt.ln = listen.New(inner, listen.Options{
		HandshakeTimeout: e.opts.HandshakeTimeout,
		NewTraceID:       e.opts.NewTraceID,
		Now:              e.opts.Now,
		Setup: func(c *listen.Conn) *tls.Config {
			rt.m.ConnAccepted()
			g := rt.gen.Load()
			c.State = g
			if g.plain {
				return nil
			}
			return g.tlsConfig
		},
		Done: func(h listen.Handshake) bool { return e.handshakeDone(rt, h) },
		Wrap: func(c net.Conn, h listen.Handshake) net.Conn { return wrapDesync(rt, c, h) },
	})
	rt.srv = &http.Server{
		Handler: http.HandlerFunc(e.serveHTTP),
		// A request head must arrive within the idle timeout, as ALB's (after which the client gets 408).
		ReadHeaderTimeout: time.Duration(max(lg.idleTimeoutSeconds, 1)) * time.Second,
		// net/http would answer OPTIONS * itself, and the desync verdict of that request would then be taken by
		// the next one.
		DisableGeneralOptionsHandler: true,
		IdleTimeout:                  time.Duration(lg.idleTimeoutSeconds) * time.Second,
		MaxHeaderBytes:               64 << 10,
		ErrorLog:                     slog.NewLogLogger(e.log.Handler(), slog.LevelDebug),
		ConnContext:                  connContext,
		ConnState: func(c net.Conn, st http.ConnState) {
			if st == http.StateClosed || st == http.StateHijacked {
				rt.live.remove(listen.FromTLS(c))
				rt.m.ConnClosed()
			}
		},
	}
	go func() {
		defer close(rt.done)
		if err := rt.srv.Serve(rt.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.log.Error("listener stopped", "address", rt.addr, "err", err)
		}
	}()
	proto := "HTTPS"
	if lg.plain {
		proto = "HTTP"
	}
	e.log.Info("listening", "address", rt.ln.Addr().String(), "protocol", proto, "mode", lg.mode.String(), "http2", lg.http2)
	return rt
}

type connKey struct{}

// connContext is the context of the requests of connection c: c's *listen.Conn, and for an HTTP/1 connection
// (wrapDesync) its watcher, through which the proxy learns that the client went away.
func connContext(ctx context.Context, c net.Conn) context.Context {
	ctx = context.WithValue(ctx, connKey{}, listen.FromTLS(c))
	if tc, ok := c.(*requestTimeoutConn); ok {
		ctx = context.WithValue(ctx, httpproxy.ClientWatcherKey{}, httpproxy.ClientWatcher(tc))
	}
	return ctx
}

func (e *Engine) serveHTTP(w http.ResponseWriter, r *http.Request) {
	c, _ := r.Context().Value(connKey{}).(*listen.Conn)
	if c == nil {
		http.Error(w, "mtlslb: connection state unavailable", http.StatusInternalServerError)
		return
	}
	c.State.(*listenerGen).handler.ServeHTTP(w, r)
}

func (e *Engine) drain(rt *listenerRuntime) {
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.DrainTimeout)
	defer cancel()
	if err := rt.srv.Shutdown(ctx); err != nil {
		e.log.Warn("listener drain timed out; closing remaining connections", "address", rt.addr, "err", err)
		_ = rt.srv.Close()
	}
	_ = rt.ln.Close()
	<-rt.done
	e.deleteDrainedSeries(rt.addr, metrics.FamilyHTTP)
	e.log.Info("listener closed", "address", rt.addr)
}

// deleteDrainedSeries deletes the metric series of addr once its listener, of family drained, has drained. If a
// later Apply gave the address to another listener meanwhile, that listener keeps every series it records: one of
// the same family keeps them all, and one of another family (HTTPS replaced by TCP at the same configured
// address) loses only what the drained family alone records, which it would otherwise show frozen for ever. The
// family holding the address is read now, under applyMu, not at the switch: after TCP, HTTPS, then TCP again, the
// first TCP listener draining last must leave the series of the TCP listener serving now alone.
func (e *Engine) deleteDrainedSeries(addr string, drained metrics.ListenerFamily) {
	e.applyMu.Lock()
	defer e.applyMu.Unlock()
	current, held := e.familyLocked(addr)
	if !held {
		e.opts.Metrics.DeleteListener(addr)
		return
	}
	e.opts.Metrics.DeleteReplacedSeries(addr, drained, current)
}

// familyLocked returns the metrics family of the listener holding addr, if one does. Callers hold applyMu.
func (e *Engine) familyLocked(addr string) (metrics.ListenerFamily, bool) {
	if e.listeners[addr] != nil {
		return metrics.FamilyHTTP, true
	}
	if rt := e.l4[addr]; rt != nil {
		return rt.family, true
	}
	return 0, false
}

// Shutdown stops accepting on every listener, waits up to DrainTimeout (or ctx) for requests in flight, and
// flushes the logs. The engine cannot be used afterwards.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.applyMu.Lock()
	defer e.applyMu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	ctx, cancel := context.WithTimeout(ctx, e.opts.DrainTimeout)
	defer cancel()
	var wg sync.WaitGroup
	var firstErr error
	var mu sync.Mutex
	for _, rt := range e.listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := rt.srv.Shutdown(ctx)
			if err != nil {
				_ = rt.srv.Close()
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("draining %s: %w", rt.addr, err)
				}
				mu.Unlock()
			}
			_ = rt.ln.Close()
			<-rt.done
		}()
	}
	wg.Wait()
	e.listeners = map[string]*listenerRuntime{}
	if err := e.shutdownL4(ctx); err != nil && firstErr == nil {
		firstErr = err
	}
	if s := e.current.Load(); s != nil {
		s.cancel()
	}
	if e.drainTimer != nil {
		e.drainTimer.Stop()
	}
	e.transports.close()
	if err := e.logs.closeAll(); err != nil && firstErr == nil {
		firstErr = err
	}
	return firstErr
}

// recordTrustStores publishes the trust stores of snap as metrics and drops those prev had and snap has not.
func (e *Engine) recordTrustStores(snap, prev *snapshot) {
	m := e.opts.Metrics
	if m == nil {
		return
	}
	for name, ts := range snap.trustStores {
		var crls []metrics.CRLInfo
		for _, r := range ts.Revocations() {
			crls = append(crls, metrics.CRLInfo{ID: r.ID, ThisUpdate: r.ThisUpdate, NextUpdate: r.NextUpdate})
		}
		m.SetTrustStore(name, len(ts.CACertificates()), ts.RevokedEntries(), crls)
	}
	if prev != nil {
		for name := range prev.trustStores {
			if snap.trustStores[name] == nil {
				m.DeleteTrustStore(name)
			}
		}
	}
}

// TrustStore returns the named trust store of the applied configuration, or nil.
func (e *Engine) TrustStore(name string) *truststore.Store {
	if s := e.current.Load(); s != nil {
		return s.trustStores[name]
	}
	return nil
}

// retainTargetsLocked tells the target registry which targets snap uses: the others drain for their group's
// deregistration delay (no new requests; requests in flight continue), then their pooled connections are
// closed. It re-arms itself for the next target whose delay runs out. Callers hold applyMu.
func (e *Engine) retainTargetsLocked(snap *snapshot) {
	keep := map[string][]*balance.Target{}
	delays := map[string]time.Duration{}
	for name, g := range snap.groups {
		keep[name] = g.targets
		delays[name] = g.delay
	}
	// A group that is gone drains with the delay it had.
	if prev := e.current.Load(); prev != nil {
		for name, g := range prev.groups {
			if _, ok := delays[name]; !ok {
				delays[name] = g.delay
			}
		}
	}
	done, next := e.targets.Retain(keep, func(group string) time.Duration {
		if d, ok := delays[group]; ok {
			return d
		}
		return 0
	})
	for _, d := range done {
		// Requests still running are not cut; the target gets no new ones, and its idle pooled connections close
		// with the pool's idle timeout.
		e.log.Info("target drained", "target_group", d.Group, "target", d.Target.ID, "outstanding", d.Target.Outstanding())
	}
	if e.drainTimer != nil {
		e.drainTimer.Stop()
		e.drainTimer = nil
	}
	if !next.IsZero() {
		e.drainTimer = time.AfterFunc(time.Until(next)+10*time.Millisecond, func() {
			e.applyMu.Lock()
			defer e.applyMu.Unlock()
			if e.closed {
				return
			}
			if s := e.current.Load(); s != nil {
				e.retainTargetsLocked(s)
			}
		})
	}
}

// TargetHealth describes the targets of a target group of the applied configuration: each registered target's
// health, then the draining ones. ok is false when no such group is applied.
func (e *Engine) TargetHealth(group string) (targets []health.TargetHealth, ok bool) {
	s := e.current.Load()
	if s == nil {
		return nil, false
	}
	g := s.groups[group]
	if g == nil {
		return nil, false
	}
	if g.l4 != nil {
		return g.l4.Describe(), true
	}
	if g.checker != nil {
		targets = g.checker.Describe()
	} else {
		for _, t := range health.TargetsFromConfig(g.doc.Targets) {
			targets = append(targets, health.TargetHealth{Target: t, HealthCheckPort: t.Port, State: health.StateUnavailable,
				Reason: health.ReasonHealthCheckDisabled, Description: "Health checks are disabled"})
		}
	}
	for _, t := range e.targets.DrainingTargets(group) {
		host, port, _ := net.SplitHostPort(t.ID)
		p, _ := strconv.Atoi(port)
		until, _ := t.Draining()
		targets = append(targets, health.TargetHealth{Target: health.Target{Host: host, Port: p}, HealthCheckPort: p,
			State: health.StateDraining, Reason: health.ReasonDeregistrationInProgress,
			Description: "Target deregistration is in progress; its connections close at " + until.UTC().Format(time.RFC3339)})
	}
	return targets, true
}

// wrapDesync puts desync mitigation between an HTTP/1 connection and net/http's parser: the bytes of each
// request head are classified before net/http normalises them away (HTTP/2 has no such ambiguity). The
// wrapped connection is no longer a *tls.Conn to net/http, which is what HTTP/1 needs: the identity comes from
// the handshake, through ConnInfo.
func wrapDesync(rt *listenerRuntime, c net.Conn, h listen.Handshake) net.Conn {
	if h.TLS != nil && h.TLS.ConnectionState().NegotiatedProtocol == "h2" {
		return c
	}
	ci, _ := h.Conn.Values.(*httpproxy.ConnInfo)
	g, _ := h.Conn.State.(*listenerGen)
	if ci == nil || g == nil {
		return c
	}
	dc := desync.NewConn(c, desync.DefaultMaxHead)
	ci.Desync = desyncVerdicts{conn: dc, mode: g.desync}
	return &requestTimeoutConn{Conn: dc, headerTimeout: time.Duration(max(g.idleTimeoutSeconds, 1)) * time.Second, onTimeout: func() { requestTimedOut(rt, g, ci) }}
}

// desyncVerdicts adapts a desync.Conn to what the proxy asks of a connection.
type desyncVerdicts struct {
	conn *desync.Conn
	mode desync.Mode
}

func (d desyncVerdicts) NextVerdict() (httpproxy.DesyncVerdict, bool) {
	v, ok := d.conn.Next()
	if !ok {
		// No verdict for a request the tracker should have seen: fail closed, as for a request it lost track of.
		v = desync.Verdict{Class: desync.Severe, Reason: desync.ReasonUnknownBoundary}
	}
	dec := d.mode.Decide(v.Class)
	return httpproxy.DesyncVerdict{Class: v.Class.String(), Reason: v.Reason, Block: dec.Block, CloseAfter: dec.CloseAfter}, true
}
