package cli

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	adminapi "github.com/mtlslb/mtlslb/internal/admin"
	"github.com/mtlslb/mtlslb/internal/explain"
	"github.com/mtlslb/mtlslb/internal/truststore"
)

func newExplain() *cobra.Command {
	c := &clientFlags{}
	var trustStore, bundle, certFile, at string
	var crls []string
	var ignoreExpiry bool
	cmd := &cobra.Command{
		Use:   "explain --cert chain.pem (--trust-store NAME | --ca-bundle FILE [--crl FILE]…)",
		Short: "Say exactly which status a client chain gets, why, and what would fix it",
		Long: `Run a client's certificate chain (PEM, leaf first) through a trust store exactly as a handshake would, and
print the verdict (the tls_verify_status of the connection log), the reason in plain words, the chain as
presented and the path that was verified.

With --trust-store NAME it asks the running mtlslb (admin API) about the trust store it is serving; with
--ca-bundle (and --crl) it works offline on files.`,
		Example: `  mtlslb explain --cert client.pem --ca-bundle ca-bundle.pem --crl issuing-ca.crl
  mtlslb explain --cert client.pem --trust-store partners --at 2027-01-01T00:00:00Z`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := c.check(); err != nil {
				return err
			}
			if certFile == "" || (trustStore == "") == (bundle == "") {
				return usageError{errors.New("give --cert, and either --trust-store or --ca-bundle")}
			}
			var when time.Time
			if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return usageError{fmt.Errorf("--at %q: want a time like 2027-01-01T00:00:00Z", at)}
				}
				when = t
			}
			chainPEM, err := os.ReadFile(certFile)
			if err != nil {
				return err
			}
			var rep explain.Report
			if trustStore != "" {
				_, err := c.call(http.MethodPost, "/api/v1/explain", nil, adminapi.ExplainRequest{
					TrustStore: trustStore, ChainPEM: string(chainPEM), At: when, IgnoreExpiry: ignoreExpiry,
				}, &rep)
				if err != nil {
					return reportAPIError(cmd, c, err)
				}
			} else {
				store, err := offlineStore(bundle, crls)
				if err != nil {
					return err
				}
				chain, err := explain.ParseChain(chainPEM)
				if err != nil {
					return fmt.Errorf("%s: %w", certFile, err)
				}
				rep = explain.Explain(store, chain, explain.Options{At: when, IgnoreExpiry: ignoreExpiry})
			}
			if c.output == "json" {
				if err := printJSON(cmd.OutOrStdout(), rep); err != nil {
					return err
				}
			} else {
				printReport(cmd.OutOrStdout(), rep)
			}
			if rep.Status != truststore.StatusSuccess.String() {
				return failure{ExitFailed}
			}
			return nil
		},
	}
	c.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&certFile, "cert", "", "the client's chain, PEM, leaf first")
	fl.StringVar(&trustStore, "trust-store", "", "a trust store of the running mtlslb")
	fl.StringVar(&bundle, "ca-bundle", "", "offline: a CA bundle file")
	fl.StringArrayVar(&crls, "crl", nil, "offline: a CRL file (PEM or DER); repeat for more")
	fl.StringVar(&at, "at", "", "verify as of this time (RFC 3339) instead of now")
	fl.BoolVar(&ignoreExpiry, "ignore-client-certificate-expiry", false, "as the listener setting of that name")
	return cmd
}

func offlineStore(bundle string, crls []string) (*truststore.Store, error) {
	data, err := os.ReadFile(bundle)
	if err != nil {
		return nil, err
	}
	cfg := truststore.Config{Name: "(offline)", Bundle: data, BundleSource: bundle}
	for i, p := range crls {
		d, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		cfg.CRLs = append(cfg.CRLs, truststore.CRLSource{ID: int64(i + 1), Data: d, Source: p})
	}
	return truststore.New(cfg)
}

func printReport(w io.Writer, rep explain.Report) {
	fmt.Fprintln(w, rep.Status)
	if rep.Detail != "" {
		fmt.Fprintln(w, "  "+rep.Detail)
	}
	fmt.Fprintf(w, "\ntrust store %s, at %s\n", rep.TrustStore, rep.At.Format(time.RFC3339))
	fmt.Fprintln(w, "\npresented chain:")
	for _, c := range rep.Presented {
		marker := " "
		if rep.Failed != nil && *rep.Failed == c.Position {
			marker = "✗"
		}
		fmt.Fprintf(w, "  %s %d  %s\n", marker, c.Position, c.Subject)
		if !c.NotAfter.IsZero() {
			fmt.Fprintf(w, "        issued by %s, serial %s, valid %s → %s\n", c.Issuer, c.SerialNumber,
				c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339))
		}
	}
	if len(rep.Path) > 0 {
		names := make([]string, len(rep.Path))
		for i, c := range rep.Path {
			names[i] = c.Subject
		}
		fmt.Fprintln(w, "\nverified path (leaf → anchor):\n  "+strings.Join(names, "\n  → "))
	}
}
