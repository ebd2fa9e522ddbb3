package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mtlslb/mtlslb/internal/config"
	"github.com/mtlslb/mtlslb/internal/engine"
	"github.com/mtlslb/mtlslb/internal/pki"
)

type demoFlags struct {
	dir   string
	port  int
	check bool
}

func newDemo() *cobra.Command {
	var f demoFlags
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a complete local mTLS demo: a PKI, an echo backend and a verify-mode listener",
		Long: `Run a complete local demo. It creates a throw-away PKI (a root CA, an issuing CA, a server certificate and
three client certificates: good, revoked and expired), starts an echo backend that answers with the headers it
received, and a verify-mode HTTPS listener on 127.0.0.1 in front of it, then prints curl commands to try.

With --check it runs those requests itself, prints what happened and exits (0 when every outcome is as
expected).`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&f.dir, "dir", "", "where to write the PKI, configuration and logs (default: a new temporary directory)")
	cmd.Flags().IntVar(&f.port, "port", 8443, "listener port on 127.0.0.1 (0 picks a free one; a busy 8443 falls back to a free one)")
	cmd.Flags().BoolVar(&f.check, "check", false, "run the demo requests, report, and exit")
	return cmd
}

// demoPKI is the demo's certificate files.
type demoPKI struct {
	dir                                string
	rootPEM                            string // the trust store bundle, and what curl trusts for the server
	crl                                string
	server                             pki.Files
	good, revoked, expired, untrusted  pki.Files
	goodCert, revokedCert, expiredCert *x509.Certificate
}

func makeDemoPKI(dir string) (*demoPKI, error) {
	root, err := pki.NewRoot(pkix.Name{CommonName: "mtlslb demo root CA", Organization: []string{"mtlslb demo"}})
	if err != nil {
		return nil, err
	}
	issuing, err := root.NewIntermediate(pkix.Name{CommonName: "mtlslb demo issuing CA", Organization: []string{"mtlslb demo"}})
	if err != nil {
		return nil, err
	}
	d := &demoPKI{dir: dir, rootPEM: filepath.Join(dir, "ca-bundle.pem"), crl: filepath.Join(dir, "issuing-ca.crl")}
	if err := os.WriteFile(d.rootPEM, pki.EncodeCertsPEM(root.Cert), 0o644); err != nil {
		return nil, err
	}
	server, err := issuing.IssueServer([]string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	if d.server, err = server.WriteFiles(dir, "server"); err != nil {
		return nil, err
	}
	client := func(name string, opts ...pki.Option) (*pki.Leaf, pki.Files, error) {
		l, err := issuing.IssueClient(pkix.Name{CommonName: name + ".client.demo", OrganizationalUnit: []string{"devices"}, Organization: []string{"mtlslb demo"}}, opts...)
		if err != nil {
			return nil, pki.Files{}, err
		}
		files, err := l.WriteFiles(dir, name)
		return l, files, err
	}
	good, goodFiles, err := client("good")
	if err != nil {
		return nil, err
	}
	revoked, revokedFiles, err := client("revoked")
	if err != nil {
		return nil, err
	}
	now := time.Now()
	expired, expiredFiles, err := client("expired", pki.WithValidity(now.Add(-60*24*time.Hour), now.Add(-24*time.Hour)))
	if err != nil {
		return nil, err
	}
	d.good, d.revoked, d.expired = goodFiles, revokedFiles, expiredFiles
	d.goodCert, d.revokedCert, d.expiredCert = good.Cert, revoked.Cert, expired.Cert

	// A certificate from a CA the trust store does not know.
	stranger, err := pki.NewRoot(pkix.Name{CommonName: "somebody else's CA"})
	if err != nil {
		return nil, err
	}
	outsider, err := stranger.IssueClient(pkix.Name{CommonName: "outsider.client.demo"})
	if err != nil {
		return nil, err
	}
	if d.untrusted, err = outsider.WriteFiles(dir, "untrusted"); err != nil {
		return nil, err
	}

	// The CRL comes from the issuing CA, which the bundle does not hold: clients send it, and mtlslb checks
	// the CRL's signature against it at handshake time (alb-compat §4), as a real deployment would.
	crlDER, err := issuing.CRL([]pki.Revocation{pki.Revoke(revoked.Cert)})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(d.crl, pki.EncodeCRLPEM(crlDER), 0o644); err != nil {
		return nil, err
	}
	return d, nil
}

const demoConfig = `# mtlslb demo configuration, written by "mtlslb demo". Serve it yourself with:
#   mtlslb serve --config %[1]s
name: demo
attributes:
  connection_logs: { enabled: true, path: logs/connection.log }
trust_stores:
  - name: demo-clients
    ca_certificates_bundle: ca-bundle.pem
    revocations:
      - crl: issuing-ca.crl
listeners:
  - port: %[2]d
    address: 127.0.0.1
    protocol: HTTPS
    certificates:
      - certificate: server.pem
        private_key: server-key.pem
    mutual_authentication:
      mode: verify
      trust_store: demo-clients
    default_actions:
      - type: forward
        target_group: echo
target_groups:
  - name: echo
    protocol: HTTP
    targets:
      - { id: 127.0.0.1, port: %[3]d }
`

func runDemo(ctx context.Context, f demoFlags, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	dir := f.dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "mtlslb-demo-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "mtlslb demo: creating a throw-away PKI in %s\n", dir)
	d, err := makeDemoPKI(dir)
	if err != nil {
		return fmt.Errorf("creating the demo PKI: %w", err)
	}

	echoLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("starting the echo backend: %w", err)
	}
	echo := &http.Server{Handler: http.HandlerFunc(echoHandler), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = echo.Serve(echoLn) }()
	defer echo.Close()

	port := f.port
	if port != 0 {
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
			fmt.Fprintf(stdout, "port %d is busy; using a free port instead\n", port)
			port = 0
		} else {
			_ = ln.Close()
		}
	}
	if port == 0 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		port = ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
	}
	cfgPath := filepath.Join(dir, "lb.yaml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, demoConfig, cfgPath, port, echoLn.Addr().(*net.TCPAddr).Port), 0o644); err != nil {
		return err
	}

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	eng := engine.New(engine.Options{Logger: log, DrainTimeout: 5 * time.Second})
	doc, err := config.Load(cfgPath)
	if err != nil {
		return fmt.Errorf("demo configuration: %w", err)
	}
	compiled, err := eng.Compile(doc)
	if err != nil {
		return fmt.Errorf("demo configuration: %w", err)
	}
	if err := eng.Apply(compiled); err != nil {
		return err
	}
	defer func() { _ = eng.Shutdown(context.Background()) }()

	url := fmt.Sprintf("https://localhost:%d/", port)
	connLog := filepath.Join(dir, "logs", "connection.log")
	fmt.Fprintf(stdout, `
A verify-mode listener is serving %[1]s in front of an echo backend.

  good certificate     → 200, and the backend echoes the X-Amzn-Mtls-* headers it received:
    curl --cacert %[2]s --cert %[3]s --key %[4]s %[1]s

  revoked certificate  → handshake refused (Failed:ClientCertCrlHit):
    curl --cacert %[2]s --cert %[5]s --key %[6]s %[1]s

  expired certificate  → handshake refused (Failed:ClientCertExpired):
    curl --cacert %[2]s --cert %[7]s --key %[8]s %[1]s

  unknown CA           → handshake refused (Failed:ClientCertUntrusted):
    curl --cacert %[2]s --cert %[9]s --key %[10]s %[1]s

  a client trying to inject an identity header → the backend never sees it:
    curl --cacert %[2]s --cert %[3]s --key %[4]s -H 'X-Amzn-Mtls-Clientcert-Subject: CN=admin' %[1]s

Connection log (one line per handshake, ALB's format): %[11]s
Configuration: %[12]s
`, url, d.rootPEM, d.good.Cert, d.good.Key, d.revoked.Cert, d.revoked.Key, d.expired.Cert, d.expired.Key,
		d.untrusted.Cert, d.untrusted.Key, connLog, cfgPath)

	if f.check {
		ok := demoCheck(stdout, d, url)
		_ = eng.Shutdown(context.Background())
		if data, err := os.ReadFile(connLog); err == nil {
			fmt.Fprintf(stdout, "\nconnection log:\n%s", data)
		}
		if !ok {
			return failure{ExitFailed}
		}
		fmt.Fprintln(stdout, "\nevery outcome was as expected")
		return nil
	}

	fmt.Fprintln(stdout, "Press Ctrl-C to stop.")
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	select {
	case <-sigs:
	case <-ctx.Done():
	}
	fmt.Fprintln(stdout, "stopping")
	return nil
}

// echoHandler answers with the request's method, path and headers as JSON.
func echoHandler(w http.ResponseWriter, r *http.Request) {
	headers := map[string]string{}
	for k, v := range r.Header {
		headers[k] = strings.Join(v, ", ")
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(struct {
		Method  string            `json:"method"`
		Path    string            `json:"path"`
		Headers map[string]string `json:"headers"`
	}{r.Method, r.URL.Path, headers})
}

// demoCheck runs the demo's requests with a Go client and reports whether each outcome is the expected one.
func demoCheck(out io.Writer, d *demoPKI, url string) bool {
	rootPEM, err := os.ReadFile(d.rootPEM)
	if err != nil {
		fmt.Fprintln(out, "reading the CA:", err)
		return false
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	// The server certificate comes from the issuing CA; trust the root and let the server send the chain.
	type outcome struct {
		name    string
		files   pki.Files
		wantOK  bool
		inject  bool
		comment string
	}
	cases := []outcome{
		{"good certificate", d.good, true, false, "200 with identity headers"},
		{"good certificate, spoofed header", d.good, true, true, "spoofed subject replaced"},
		{"revoked certificate", d.revoked, false, false, "refused"},
		{"expired certificate", d.expired, false, false, "refused"},
		{"unknown CA", d.untrusted, false, false, "refused"},
	}
	allOK := true
	fmt.Fprintln(out, "\nchecking:")
	for _, c := range cases {
		cert, err := tls.LoadX509KeyPair(c.files.Cert, c.files.Key)
		if err != nil {
			fmt.Fprintf(out, "  %-34s ERROR loading: %v\n", c.name, err)
			allOK = false
			continue
		}
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: roots, Certificates: []tls.Certificate{cert}, ServerName: "localhost",
		}}}
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if c.inject {
			req.Header.Set("X-Amzn-Mtls-Clientcert-Subject", "CN=admin")
		}
		resp, err := client.Do(req)
		if err != nil {
			good := !c.wantOK
			allOK = allOK && good
			fmt.Fprintf(out, "  %-34s %s handshake refused (%s)\n", c.name, mark(good), shortErr(err))
			continue
		}
		var body struct {
			Headers map[string]string `json:"headers"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		good := c.wantOK && resp.StatusCode == http.StatusOK
		subject := body.Headers["X-Amzn-Mtls-Clientcert-Subject"]
		if c.inject && subject == "CN=admin" {
			good = false
		}
		allOK = allOK && good
		fmt.Fprintf(out, "  %-34s %s %d, backend saw subject %q\n", c.name, mark(good), resp.StatusCode, subject)
		if c.wantOK && !c.inject {
			keys := make([]string, 0, len(body.Headers))
			for k := range body.Headers {
				if strings.HasPrefix(k, "X-Amzn-Mtls-") {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			for _, k := range keys {
				v := body.Headers[k]
				if len(v) > 72 {
					v = v[:72] + "…"
				}
				fmt.Fprintf(out, "      %s: %s\n", k, v)
			}
		}
		client.CloseIdleConnections()
	}
	return allOK
}

func mark(ok bool) string {
	if ok {
		return "ok  "
	}
	return "FAIL"
}

func shortErr(err error) string {
	var ue interface{ Unwrap() error }
	for errors.As(err, &ue) && ue.Unwrap() != nil {
		err = ue.Unwrap()
	}
	return err.Error()
}
