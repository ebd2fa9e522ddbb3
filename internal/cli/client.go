package cli

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	adminapi "github.com/mtlslb/mtlslb/internal/admin"
)

// clientFlags are the flags of every command that talks to the admin API.
type clientFlags struct {
	admin  string
	output string
	// cert, key and ca are the client certificate, its key and the CAs that verify the server, for an admin
	// API served over mTLS (serve --admin-tls-cert …).
	cert, key, ca string

	// base and httpClient are resolved from the flags on the first call and reused by the next calls of the
	// command.
	base       string
	httpClient *http.Client
}

func (c *clientFlags) register(cmd *cobra.Command) {
	def := os.Getenv("MTLSLB_ADMIN")
	if def == "" {
		def = "127.0.0.1:9901"
	}
	cmd.PersistentFlags().StringVar(&c.admin, "admin", def, "admin API address (or set MTLSLB_ADMIN)")
	cmd.PersistentFlags().StringVarP(&c.output, "output", "o", "table", "table or json")
	cmd.PersistentFlags().StringVar(&c.cert, "admin-cert", os.Getenv("MTLSLB_ADMIN_CERT"), "client certificate (PEM, may include the chain) for an admin API served over mTLS (or set MTLSLB_ADMIN_CERT)")
	cmd.PersistentFlags().StringVar(&c.key, "admin-key", os.Getenv("MTLSLB_ADMIN_KEY"), "the private key (PEM) of --admin-cert (or set MTLSLB_ADMIN_KEY)")
	cmd.PersistentFlags().StringVar(&c.ca, "admin-ca", os.Getenv("MTLSLB_ADMIN_CA"), "CA certificates (PEM) that verify the admin API's server certificate (or set MTLSLB_ADMIN_CA; default: the system's roots)")
}

func (c *clientFlags) check() error {
	if c.output != "table" && c.output != "json" {
		return usageError{fmt.Errorf("--output: %q is not table or json", c.output)}
	}
	if (c.cert == "") != (c.key == "") {
		return usageError{errors.New("--admin-cert and --admin-key (or MTLSLB_ADMIN_CERT and MTLSLB_ADMIN_KEY) go together: give both")}
	}
	if c.tlsFlags() && hasScheme(c.admin, "http") {
		return usageError{fmt.Errorf("--admin %q is plain HTTP, but --admin-cert, --admin-key or --admin-ca (or MTLSLB_ADMIN_CERT, MTLSLB_ADMIN_KEY, MTLSLB_ADMIN_CA) asks for TLS: use https://", c.admin)}
	}
	return nil
}

// tlsFlags reports whether any of the admin TLS flags (or their variables) is set.
func (c *clientFlags) tlsFlags() bool { return c.cert != "" || c.key != "" || c.ca != "" }

// hasScheme reports whether addr starts with scheme:// (in any case, as URL schemes are).
func hasScheme(addr, scheme string) bool {
	return len(addr) > len(scheme)+3 && strings.EqualFold(addr[:len(scheme)+3], scheme+"://")
}

// endpoint returns the admin API's base URL and the HTTP client that reaches it. An https:// address, or an
// address without a scheme when a TLS flag is set, is reached over TLS with the client certificate, and the
// server is verified against --admin-ca.
func (c *clientFlags) endpoint() (string, *http.Client, error) {
	if c.httpClient != nil {
		return c.base, c.httpClient, nil
	}
	base := c.admin
	if !strings.Contains(base, "://") {
		if c.tlsFlags() {
			base = "https://" + base
		} else {
			base = "http://" + base
		}
	}
	hc := &http.Client{Timeout: 2 * time.Minute}
	if hasScheme(base, "https") {
		cfg, err := c.clientTLS()
		if err != nil {
			return "", nil, err
		}
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = cfg
		hc.Transport = t
	}
	c.base, c.httpClient = base, hc
	return base, hc, nil
}

// clientTLS reads the client certificate and the server's CAs. Each file is read on its own so that an
// error names the flag.
func (c *clientFlags) clientTLS() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.cert != "" {
		pair, err := loadKeyPair("--admin-cert", c.cert, "--admin-key", c.key)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if c.ca != "" {
		data, err := os.ReadFile(c.ca)
		if err != nil {
			return nil, fmt.Errorf("--admin-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("--admin-ca %s: no PEM certificate in it", c.ca)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// unreachable turns a failed request into a message that says what to do: a refused client certificate, a
// server certificate that does not verify, or an admin API that is not there (or does not speak TLS).
func (c *clientFlags) unreachable(err error) error {
	var remote *net.OpError
	if errors.As(err, &remote) && remote.Op == "remote error" {
		// The server sent a TLS alert. crypto/tls has no exported type for received alerts: their text is
		// all there is. In TLS 1.3 a refused client certificate arrives as an alert on the first read.
		alert := remote.Err.Error()
		switch {
		case strings.Contains(alert, "certificate required") || (c.cert == "" && strings.Contains(alert, "certificate")):
			return fmt.Errorf("the admin API at %s requires a client certificate: give --admin-cert and --admin-key (or MTLSLB_ADMIN_CERT and MTLSLB_ADMIN_KEY) (%w)", c.admin, remote)
		case strings.Contains(alert, "certificate"):
			return fmt.Errorf("the admin API refused this client certificate: %w (%s is not accepted by the trust store of serve --admin-client-ca; the server's log says why, with its Failed:<code>)", remote, c.cert)
		}
		return fmt.Errorf("the admin API at %s refused the TLS handshake: %w", c.admin, remote)
	}
	var verr *tls.CertificateVerificationError
	if errors.As(err, &verr) {
		roots := "the system's roots; give --admin-ca FILE with the CA that issued it"
		if c.ca != "" {
			roots = "--admin-ca " + c.ca
		}
		return fmt.Errorf("the admin API's server certificate at %s is not accepted: %w (checked against %s)", c.admin, verr.Err, roots)
	}
	if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return fmt.Errorf("the admin API at %s does not speak TLS: use --admin http://… without --admin-cert, --admin-key and --admin-ca, or start serve with --admin-tls-cert, --admin-tls-key and --admin-client-ca: %w", c.admin, err)
	}
	return fmt.Errorf("cannot reach the admin API at %s (is `mtlslb serve` running there? --admin or MTLSLB_ADMIN picks another address): %w", c.admin, err)
}

// apiError is a refusal from the admin API, printed as the API's code and message.
type apiError struct {
	status        int
	code, message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

// call sends one request to the admin API. in is JSON-encoded unless it is []byte; a 2xx body is decoded
// into out (or copied when out is *[]byte).
func (c *clientFlags) call(method, path string, header http.Header, in, out any) (http.Header, error) {
	var body io.Reader
	contentType := ""
	switch v := in.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(v)
		contentType = "application/yaml"
	default:
		data, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(data)
		contentType = "application/json"
	}
	base, hc, err := c.endpoint()
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		return nil, usageError{fmt.Errorf("--admin %q: %w", c.admin, err)}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, c.unreachable(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		var eb adminapi.ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
			return resp.Header, &apiError{status: resp.StatusCode, code: eb.Error.Code, message: eb.Error.Message}
		}
		return resp.Header, &apiError{status: resp.StatusCode, code: http.StatusText(resp.StatusCode), message: strings.TrimSpace(string(data))}
	}
	switch o := out.(type) {
	case nil:
	case *[]byte:
		*o = data
	default:
		if err := json.Unmarshal(data, out); err != nil {
			return resp.Header, fmt.Errorf("the admin API answered something unexpected: %w", err)
		}
	}
	return resp.Header, nil
}

// printJSON writes v indented.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// reportAPIError prints an admin API refusal plainly and turns it into exit status 1.
func reportAPIError(cmd *cobra.Command, c *clientFlags, err error) error {
	var ae *apiError
	if !errors.As(err, &ae) {
		return err
	}
	if c.output == "json" {
		_ = printJSON(cmd.OutOrStdout(), map[string]any{"error": map[string]string{"code": ae.code, "message": ae.message}})
	} else {
		fmt.Fprintf(cmd.ErrOrStderr(), "mtlslb: refused (%s): %s\n", ae.code, ae.message)
	}
	return failure{ExitFailed}
}
