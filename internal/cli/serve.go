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
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/spf13/cobra"

	"github.com/mtlslb/mtlslb/internal/config"
	"github.com/mtlslb/mtlslb/internal/engine"
)

type serveFlags struct {
	config        string
	dataDir       string
	etcdEndpoints string
	adminAddress  string
	logLevel      string
	drainTimeout  time.Duration
}

func newServe() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run the load balancer",
		Long: `Run the load balancer.

With --config the file is the source of truth: it is reloaded when it (or a certificate, bundle or CRL it
names) changes and on SIGHUP. A document that does not check out is refused with every problem listed in the
log, and the running configuration keeps serving. SIGTERM or SIGINT stops accepting, lets requests in flight
finish (up to --drain-timeout) and exits.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), f, cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "configuration file (YAML or JSON)")
	fl.StringVar(&f.dataDir, "data-dir", "", "store mode: directory of the embedded store (not available yet)")
	fl.StringVar(&f.etcdEndpoints, "etcd-endpoints", "", "fleet mode: etcd endpoints (not available yet)")
	fl.StringVar(&f.adminAddress, "admin-address", "127.0.0.1:9901", `admin API address, or "off"`)
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.DurationVar(&f.drainTimeout, "drain-timeout", 30*time.Second, "how long a stop waits for requests in flight")
	return cmd
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", level)}
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func runServe(ctx context.Context, f serveFlags, stderr io.Writer) error {
	log, err := newLogger(stderr, f.logLevel)
	if err != nil {
		return err
	}
	switch {
	case f.etcdEndpoints != "":
		return errors.New("--etcd-endpoints: fleet mode is not available yet; use --config FILE")
	case f.config == "" && f.dataDir != "":
		return errors.New("--data-dir: store mode is not available yet; use --config FILE")
	case f.config == "":
		return usageError{errors.New("--config FILE is required (store mode, the default without it, is not available yet)")}
	}
	if ctx == nil {
		ctx = context.Background()
	}

	eng := engine.New(engine.Options{Logger: log, DrainTimeout: f.drainTimeout})
	apply := func() error {
		doc, err := config.Load(f.config)
		if err != nil {
			return err
		}
		compiled, err := eng.Compile(doc)
		if err != nil {
			return err
		}
		if err := eng.Apply(compiled); err != nil {
			return err
		}
		return nil
	}
	if err := apply(); err != nil {
		log.Error("configuration refused; nothing started", "file", f.config, "problems", problemList(err))
		return failure{ExitFailed}
	}

	var admin *http.Server
	if f.adminAddress != "off" {
		ln, err := net.Listen("tcp", f.adminAddress)
		if err != nil {
			_ = eng.Shutdown(context.Background())
			return fmt.Errorf("--admin-address: %w", err)
		}
		admin = &http.Server{Handler: adminHandler(eng), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = admin.Serve(ln) }()
		log.Info("admin API listening", "address", ln.Addr().String())
	}

	reload := make(chan string, 1)
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(signals)
	stopWatch := watchFiles(f.config, log, reload)
	defer stopWatch()

	for {
		select {
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				doReload(apply, eng, log, "SIGHUP")
				continue
			}
			log.Info("stopping: draining connections", "signal", sig.String(), "timeout", f.drainTimeout.String())
			return shutdown(eng, admin, log)
		case why := <-reload:
			doReload(apply, eng, log, why)
		case <-ctx.Done():
			return shutdown(eng, admin, log)
		}
	}
}

func doReload(apply func() error, eng *engine.Engine, log *slog.Logger, why string) {
	if err := apply(); err != nil {
		st, _ := eng.Status()
		log.Error("configuration refused; still serving the previous one", "trigger", why, "serving_revision", st.Revision, "problems", problemList(err))
		return
	}
	st, _ := eng.Status()
	log.Info("configuration reloaded", "trigger", why, "revision", st.Revision)
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

func adminHandler(eng *engine.Engine) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		st, ok := eng.Status()
		if !ok {
			http.Error(w, "not ready: no configuration applied", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "ready: revision %d, %d listeners\n", st.Revision, len(st.Listeners))
	})
	return mux
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
