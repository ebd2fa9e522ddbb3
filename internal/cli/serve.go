package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/spf13/cobra"

	adminapi "github.com/mtlslb/mtlslb/internal/admin"
	"github.com/mtlslb/mtlslb/internal/config"
	"github.com/mtlslb/mtlslb/internal/configstore"
	"github.com/mtlslb/mtlslb/internal/control"
	"github.com/mtlslb/mtlslb/internal/engine"
	"github.com/mtlslb/mtlslb/internal/metrics"
)

type serveFlags struct {
	config        string
	dataDir       string
	etcdEndpoints string
	adminAddress  string
	logLevel      string
	drainTimeout  time.Duration
	crlCacheDir   string
	adminTLS      adminTLSFlags
}

func newServe() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve [--config FILE | --data-dir DIR]",
		Short: "Run the load balancer",
		Long: `Run the load balancer.

File mode (--config FILE): the file is the source of truth. It is reloaded when it (or a certificate, bundle
or CRL it names) changes and on SIGHUP; the admin API is read-only.

Store mode (--data-dir DIR, the default, with ./mtlslb-data): the configuration lives in an embedded store in
DIR and is managed through the admin API, with mtlslb apply -f and mtlslb trust-store; every change applies
at once, without a restart.

Either way a configuration that does not check out is refused with every problem listed, and the running one
keeps serving. SIGTERM or SIGINT stops accepting, lets requests in flight finish (up to --drain-timeout) and
exits.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), f, cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "configuration file (YAML or JSON)")
	fl.StringVar(&f.dataDir, "data-dir", "", "store mode: directory of the embedded store (default ./mtlslb-data when --config is not given)")
	fl.StringVar(&f.etcdEndpoints, "etcd-endpoints", "", "fleet mode: etcd endpoints (not available yet)")
	fl.StringVar(&f.adminAddress, "admin-address", "127.0.0.1:9901", `admin API address, or "off"; an address that is not loopback needs --admin-tls-cert, --admin-tls-key and --admin-client-ca`)
	fl.StringVar(&f.adminTLS.cert, "admin-tls-cert", "", "serve the admin API over mTLS with this certificate (PEM, may include the chain); read once at start")
	fl.StringVar(&f.adminTLS.key, "admin-tls-key", "", "the private key (PEM) of --admin-tls-cert")
	fl.StringVar(&f.adminTLS.clientCA, "admin-client-ca", "", "the admin API's own trust store: a CA bundle (PEM, ALB bundle rules); admin clients must present a certificate it verifies")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.DurationVar(&f.drainTimeout, "drain-timeout", 30*time.Second, "how long a stop waits for requests in flight")
	fl.StringVar(&f.crlCacheDir, "crl-cache-dir", "", "where the last good copies of CRLs fetched from URLs are kept (default: .mtlslb-crl-cache beside --config, or crl-cache in --data-dir)")
	return cmd
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", level)}
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// source is where the configuration comes from: a file (file mode) or the embedded store (store mode).
type source struct {
	mode    string // "file" or "store"
	name    string // the file, or the data directory
	control *control.Service
	// apply loads the current configuration and applies it. applied is false when there is nothing to
	// apply yet (an empty store).
	apply func(ctx context.Context) (applied bool, err error)
	// storedRevision is the store's revision (store mode).
	storedRevision func() int64
	close          func()
}

func runServe(ctx context.Context, f serveFlags, stderr io.Writer) error {
	log, err := newLogger(stderr, f.logLevel)
	if err != nil {
		return err
	}
	if f.etcdEndpoints != "" {
		return errors.New("--etcd-endpoints: fleet mode is not available yet; use --data-dir DIR or --config FILE")
	}
	if f.config != "" && f.dataDir != "" {
		return usageError{errors.New("--config and --data-dir are two different sources of truth: give one")}
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Changes come from the file or the store, from SIGHUP, and from CRLs fetched from URLs.
	reload := make(chan string, 1)
	requestReload := func(why string) {
		select {
		case reload <- why:
		default: // a reload is pending and will read the newest state
		}
	}
	cacheDir := f.crlCacheDir
	if cacheDir == "" {
		if f.config != "" {
			cacheDir = filepath.Join(filepath.Dir(f.config), ".mtlslb-crl-cache")
		} else {
			cacheDir = filepath.Join(orDefault(f.dataDir, "mtlslb-data"), "crl-cache")
		}
	}
	remote := engine.NewRemoteCRLs(ctx, cacheDir, log, func(url string) { requestReload("new CRL from " + url) })

	m := metrics.New()
	eng := engine.New(engine.Options{Logger: log, DrainTimeout: f.drainTimeout, Metrics: m, FetchCRL: remote.Get})
	var src *source
	if f.config != "" {
		src = fileSource(f.config, eng)
	} else {
		if src, err = storeSource(orDefault(f.dataDir, "mtlslb-data"), eng); err != nil {
			return err
		}
	}
	defer src.close()

	var lastErr atomicString
	applied, err := src.apply(ctx)
	switch {
	case err != nil && src.mode == "file":
		log.Error("configuration refused; nothing started", "file", src.name, "problems", problemList(err))
		return failure{ExitFailed}
	case err != nil:
		// In store mode the admin API must come up anyway, so the operator can repair what is stored.
		lastErr.Store(err.Error())
		log.Error("stored configuration refused; serving nothing until it is fixed through the admin API", "data_dir", src.name, "problems", problemList(err))
	case !applied:
		log.Info("the store holds no configuration yet; put one with `mtlslb apply -f FILE`", "data_dir", src.name)
	}

	var admin *http.Server
	if f.adminAddress != "off" {
		ln, err := listenAdmin(f, log)
		if err != nil {
			_ = eng.Shutdown(context.Background())
			return err
		}
		admin = &http.Server{Handler: adminapi.Handler(adminapi.Options{
			Control:        src.control,
			ConfigFile:     f.config,
			ReadConfigFile: func() ([]byte, error) { return os.ReadFile(f.config) },
			Status: func() adminapi.Status {
				st := status(eng, src, &lastErr)
				st.RemoteCRLs = remote.Status()
				return st
			},
			Metrics:    m.Handler(),
			TrustStore: eng.TrustStore,
		}), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = admin.Serve(ln) }()
		log.Info("admin API listening", "address", ln.Addr().String(), "mode", src.mode)
	}

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(signals)
	if src.mode == "file" {
		stopWatch := watchFiles(f.config, log, reload)
		defer stopWatch()
	} else {
		go watchStore(ctx, src, log, reload)
		go src.control.RunBlobCollection(ctx, 0, log, func(res configstore.BlobCollection, err error) {
			m.BlobCollection(err == nil, res.Referenced, res.Waiting, res.Reclaimed, res.ReclaimedBytes)
		})
	}

	for {
		select {
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				doReload(ctx, src, eng, m, log, "SIGHUP", &lastErr)
				continue
			}
			log.Info("stopping: draining connections", "signal", sig.String(), "timeout", f.drainTimeout.String())
			return shutdown(eng, admin, log)
		case why := <-reload:
			doReload(ctx, src, eng, m, log, why, &lastErr)
		case <-ctx.Done():
			return shutdown(eng, admin, log)
		}
	}
}

// listenAdmin opens the admin address. The admin API changes what the load balancer trusts, so it is served
// on loopback only, unless it requires a client certificate that its own trust store verifies (the
// --admin-tls-* flags), which then may be reached from anywhere.
func listenAdmin(f serveFlags, log *slog.Logger) (net.Listener, error) {
	mTLS, err := f.adminTLS.enabled()
	if err != nil {
		return nil, err
	}
	if err := checkAdminAddress(f.adminAddress, mTLS); err != nil {
		return nil, err
	}
	var tlsMaterial *adminTLS
	if mTLS {
		// Read before listening, so that a bad file never leaves the port open for a moment.
		if tlsMaterial, err = loadAdminTLS(f.adminTLS); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", f.adminAddress)
	if err != nil {
		return nil, fmt.Errorf("--admin-address: %w", err)
	}
	if !mTLS {
		return ln, nil
	}
	log.Info("admin API requires client certificates", "client_ca", f.adminTLS.clientCA,
		"ca_certificates", len(tlsMaterial.store.CACertificates()))
	return tlsMaterial.listen(ln, log), nil
}

func fileSource(path string, eng *engine.Engine) *source {
	return &source{
		mode: "file",
		name: path,
		apply: func(context.Context) (bool, error) {
			doc, err := config.Load(path)
			if err != nil {
				return false, err
			}
			compiled, err := eng.Compile(doc)
			if err != nil {
				return false, err
			}
			return true, eng.Apply(compiled)
		},
		storedRevision: func() int64 { return 0 },
		close:          func() {},
	}
}

func storeSource(dir string, eng *engine.Engine) (*source, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	st, err := configstore.OpenBolt(filepath.Join(abs, "mtlslb.db"), configstore.BoltOptions{Timeout: time.Second})
	if err != nil {
		return nil, err
	}
	svc := control.New(control.Options{
		Store:    st,
		Dir:      abs,
		ReadFile: os.ReadFile,
		Health:   eng.TargetHealth,
		Check: func(doc *config.Document, readFile func(string) ([]byte, error)) error {
			_, err := engine.Compile(doc, engine.CompileOptions{ReadFile: readFile}, nil)
			return err
		},
	})
	var rev atomicInt
	return &source{
		mode:    "store",
		name:    abs,
		control: svc,
		apply: func(ctx context.Context) (bool, error) {
			doc, r, err := svc.Document(ctx)
			rev.Store(int64(r))
			if err != nil || doc == nil {
				return false, err
			}
			compiled, err := eng.CompileWith(doc, svc.ReadFile(ctx))
			if err != nil {
				return false, err
			}
			return true, eng.Apply(compiled)
		},
		storedRevision: rev.Load,
		close:          func() { _ = st.Close() },
	}, nil
}

// watchStore asks for a reload whenever the store changes.
func watchStore(ctx context.Context, src *source, log *slog.Logger, reload chan<- string) {
	events, err := src.control.Watch(ctx, configstore.Revision(src.storedRevision()))
	if err != nil {
		log.Error("watching the store failed; changes apply on SIGHUP only", "err", err)
		return
	}
	for batch := range events {
		why := "store changed"
		if len(batch) > 0 {
			why = fmt.Sprintf("store revision %d", batch[0].KV.ModRevision)
		}
		select {
		case reload <- why:
		default: // a reload is pending and will read the newest state
		}
	}
}

func status(eng *engine.Engine, src *source, lastErr *atomicString) adminapi.Status {
	st, ok := eng.Status()
	out := adminapi.Status{Mode: src.mode, Source: src.name, StoredRevision: src.storedRevision(),
		AppliedRevision: st.Revision, LastError: lastErr.Load(), Listeners: st.Listeners, Ready: ok}
	if out.Listeners == nil {
		out.Listeners = []string{}
	}
	return out
}

type atomicString struct{ v atomic.Value }

func (a *atomicString) Store(s string) { a.v.Store(s) }
func (a *atomicString) Load() string {
	s, _ := a.v.Load().(string)
	return s
}

type atomicInt struct{ v atomic.Int64 }

func (a *atomicInt) Store(n int64) { a.v.Store(n) }
func (a *atomicInt) Load() int64   { return a.v.Load() }

func doReload(ctx context.Context, src *source, eng *engine.Engine, m *metrics.Metrics, log *slog.Logger, why string, lastErr *atomicString) {
	applied, err := src.apply(ctx)
	if err != nil {
		lastErr.Store(err.Error())
		st, _ := eng.Status()
		m.SetConfig(st.Revision, false, time.Now())
		log.Error("configuration refused; still serving the previous one", "trigger", why, "serving_revision", st.Revision, "problems", problemList(err))
		return
	}
	lastErr.Store("")
	if applied {
		st, _ := eng.Status()
		log.Info("configuration reloaded", "trigger", why, "revision", st.Revision)
	}
}

func shutdown(eng *engine.Engine, admin *http.Server, log *slog.Logger) error {
	err := eng.Shutdown(context.Background())
	if admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = admin.Shutdown(ctx)
		cancel()
	}
	if err != nil {
		log.Warn("stopped with connections cut", "err", err)
		return failure{ExitFailed}
	}
	log.Info("stopped")
	return nil
}

// problemList flattens a (possibly joined) error into one problem per element, for a structured log line.
func problemList(err error) []string {
	return strings.Split(err.Error(), "\n")
}

// watchFiles sends on reload when the configuration file, or a file it names, changes. It watches
// directories, not files, because editors and configuration tools replace files by renaming over them, which
// a watch on the old inode would miss.
func watchFiles(configPath string, log *slog.Logger, reload chan<- string) (stop func()) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		log.Warn("file watching unavailable; reload with SIGHUP", "err", err)
		return func() {}
	}
	watched := map[string]bool{}
	files := map[string]bool{}
	refresh := func() {
		paths := []string{configPath}
		if doc, err := config.Load(configPath); err == nil {
			paths = append(paths, referencedFiles(doc)...)
		}
		for _, p := range paths {
			abs, err := filepath.Abs(p)
			if err != nil {
				continue
			}
			files[abs] = true
			dir := filepath.Dir(abs)
			if !watched[dir] {
				if err := w.Add(dir); err == nil {
					watched[dir] = true
				}
			}
		}
	}
	refresh()
	done := make(chan struct{})
	go func() {
		// Changes come in bursts (write, chmod, rename); wait for quiet before reloading.
		var timer <-chan time.Time
		var last string
		for {
			select {
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if files[ev.Name] && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename|fsnotify.Remove) != 0 {
					last = "file changed: " + ev.Name
					timer = time.After(300 * time.Millisecond)
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				log.Warn("file watch error", "err", err)
			case <-timer:
				timer = nil
				refresh()
				select {
				case reload <- last:
				default: // a reload is already pending; it will read the newest files
				}
			case <-done:
				return
			}
		}
	}()
	return func() { close(done); _ = w.Close() }
}

// referencedFiles lists the files a document names whose change should reload it.
func referencedFiles(doc *config.Document) []string {
	var paths []string
	add := func(p config.FilePath) {
		if p.Path() != "" && p.Path() != config.Stdout {
			paths = append(paths, p.Path())
		}
	}
	for _, ts := range doc.TrustStores {
		add(ts.CACertificatesBundle)
		for _, r := range ts.Revocations {
			add(r.CRL)
		}
	}
	for _, l := range doc.Listeners {
		for _, c := range l.Certificates {
			add(c.Certificate)
			add(c.PrivateKey)
		}
	}
	return paths
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
