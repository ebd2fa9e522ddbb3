package cli

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	adminapi "github.com/mtlslb/mtlslb/internal/admin"
	"github.com/mtlslb/mtlslb/internal/control"
)

func newTrustStore() *cobra.Command {
	c := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "trust-store",
		Short: "Manage trust stores (store mode), with the verbs of `aws elbv2`",
		Long: `Manage the trust stores of a running mtlslb in store mode (serve --data-dir), through its admin API.
The verbs are ELBv2's, so aws elbv2 habits carry over:

  mtlslb trust-store create --name partners --ca-certificates-bundle bundle.pem [--crl a.crl]…
  mtlslb trust-store modify --name partners --ca-certificates-bundle new-bundle.pem
  mtlslb trust-store add-revocations --name partners --crl a.crl [--crl b.crl]…
  mtlslb trust-store remove-revocations --name partners --revocation-ids 1,2
  mtlslb trust-store describe [--name partners]
  mtlslb trust-store describe-revocations --name partners
  mtlslb trust-store get-ca-bundle --name partners > bundle.pem
  mtlslb trust-store get-revocation-content --name partners --revocation-id 1 > 1.crl
  mtlslb trust-store describe-associations --name partners
  mtlslb trust-store delete --name partners

Every change applies to new handshakes at once, without a restart.`,
	}
	c.register(cmd)
	var name, bundle, ids string
	var crls []string
	var id int64
	nameFlag := func(sub *cobra.Command, required bool) {
		sub.Flags().StringVar(&name, "name", "", "trust store name")
		if required {
			_ = sub.MarkFlagRequired("name")
		}
	}
	run := func(f func(cmd *cobra.Command) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			if err := c.check(); err != nil {
				return err
			}
			return reportAPIError(cmd, c, f(cmd))
		}
	}
	sub := func(use, short string, f func(cmd *cobra.Command) error) *cobra.Command {
		s := &cobra.Command{Use: use, Short: short, Args: args(cobra.NoArgs), RunE: run(f)}
		cmd.AddCommand(s)
		return s
	}

	create := sub("create", "Create a trust store from a CA bundle (and CRLs)", func(cmd *cobra.Command) error {
		b, err := readUpload(bundle, true)
		if err != nil {
			return err
		}
		revs, err := readUploads(crls)
		if err != nil {
			return err
		}
		var ts control.TrustStore
		if _, err := c.call("POST", "/api/v1/trust-stores", nil, adminapi.CreateTrustStoreRequest{Name: name, CACertificatesBundle: b, Revocations: revs}, &ts); err != nil {
			return err
		}
		return printTrustStores(cmd, c, []control.TrustStore{ts})
	})
	nameFlag(create, true)
	create.Flags().StringVar(&bundle, "ca-certificates-bundle", "", "PEM file of CA certificates")
	_ = create.MarkFlagRequired("ca-certificates-bundle")
	create.Flags().StringArrayVar(&crls, "crl", nil, "CRL file (PEM or DER); repeat for more")

	modify := sub("modify", "Replace a trust store's CA bundle", func(cmd *cobra.Command) error {
		b, err := readUpload(bundle, true)
		if err != nil {
			return err
		}
		var ts control.TrustStore
		if _, err := c.call("PUT", "/api/v1/trust-stores/"+url.PathEscape(name), nil, adminapi.ModifyTrustStoreRequest{CACertificatesBundle: b}, &ts); err != nil {
			return err
		}
		return printTrustStores(cmd, c, []control.TrustStore{ts})
	})
	nameFlag(modify, true)
	modify.Flags().StringVar(&bundle, "ca-certificates-bundle", "", "PEM file of CA certificates")
	_ = modify.MarkFlagRequired("ca-certificates-bundle")

	del := sub("delete", "Delete a trust store that no listener uses", func(cmd *cobra.Command) error {
		if _, err := c.call("DELETE", "/api/v1/trust-stores/"+url.PathEscape(name), nil, nil, nil); err != nil {
			return err
		}
		if c.output == "json" {
			return printJSON(cmd.OutOrStdout(), map[string]string{"deleted": name})
		}
		fmt.Fprintf(cmd.OutOrStdout(), "deleted trust store %s\n", name)
		return nil
	})
	nameFlag(del, true)

	describe := sub("describe", "Describe one trust store, or all", func(cmd *cobra.Command) error {
		var list []control.TrustStore
		if name != "" {
			var ts control.TrustStore
			if _, err := c.call("GET", "/api/v1/trust-stores/"+url.PathEscape(name), nil, nil, &ts); err != nil {
				return err
			}
			list = []control.TrustStore{ts}
		} else {
			var resp struct {
				TrustStores []control.TrustStore `json:"trust_stores"`
			}
			if _, err := c.call("GET", "/api/v1/trust-stores", nil, nil, &resp); err != nil {
				return err
			}
			list = resp.TrustStores
		}
		return printTrustStores(cmd, c, list)
	})
	nameFlag(describe, false)

	add := sub("add-revocations", "Add CRLs to a trust store; prints their revocation ids", func(cmd *cobra.Command) error {
		revs, err := readUploads(crls)
		if err != nil {
			return err
		}
		if len(revs) == 0 {
			return usageError{fmt.Errorf("give at least one --crl")}
		}
		var resp struct {
			Revocations []control.Revocation `json:"revocations"`
		}
		if _, err := c.call("POST", "/api/v1/trust-stores/"+url.PathEscape(name)+"/revocations", nil, adminapi.AddRevocationsRequest{Revocations: revs}, &resp); err != nil {
			return err
		}
		return printRevocations(cmd, c, resp.Revocations)
	})
	nameFlag(add, true)
	add.Flags().StringArrayVar(&crls, "crl", nil, "CRL file (PEM or DER); repeat for more")

	remove := sub("remove-revocations", "Remove CRLs from a trust store by revocation id", func(cmd *cobra.Command) error {
		var list []int64
		for _, s := range strings.Split(ids, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil || n < 1 {
				return usageError{fmt.Errorf("--revocation-ids: %q is not a list of revocation ids like 1,2", ids)}
			}
			list = append(list, n)
		}
		for _, n := range list {
			if _, err := c.call("DELETE", fmt.Sprintf("/api/v1/trust-stores/%s/revocations/%d", url.PathEscape(name), n), nil, nil, nil); err != nil {
				return err
			}
		}
		if c.output == "json" {
			return printJSON(cmd.OutOrStdout(), map[string]any{"removed": list})
		}
		fmt.Fprintf(cmd.OutOrStdout(), "removed revocation(s) %s from %s\n", ids, name)
		return nil
	})
	nameFlag(remove, true)
	remove.Flags().StringVar(&ids, "revocation-ids", "", "comma-separated revocation ids")
	_ = remove.MarkFlagRequired("revocation-ids")

	descRevs := sub("describe-revocations", "List a trust store's CRLs", func(cmd *cobra.Command) error {
		var resp struct {
			Revocations []control.Revocation `json:"revocations"`
		}
		if _, err := c.call("GET", "/api/v1/trust-stores/"+url.PathEscape(name)+"/revocations", nil, nil, &resp); err != nil {
			return err
		}
		return printRevocations(cmd, c, resp.Revocations)
	})
	nameFlag(descRevs, true)

	getBundle := sub("get-ca-bundle", "Print a trust store's CA bundle", func(cmd *cobra.Command) error {
		var data []byte
		if _, err := c.call("GET", "/api/v1/trust-stores/"+url.PathEscape(name)+"/ca-certificates-bundle", nil, nil, &data); err != nil {
			return err
		}
		_, err := cmd.OutOrStdout().Write(data)
		return err
	})
	nameFlag(getBundle, true)

	getContent := sub("get-revocation-content", "Print a CRL as uploaded", func(cmd *cobra.Command) error {
		var data []byte
		if _, err := c.call("GET", fmt.Sprintf("/api/v1/trust-stores/%s/revocations/%d/content", url.PathEscape(name), id), nil, nil, &data); err != nil {
			return err
		}
		_, err := cmd.OutOrStdout().Write(data)
		return err
	})
	nameFlag(getContent, true)
	getContent.Flags().Int64Var(&id, "revocation-id", 0, "revocation id")
	_ = getContent.MarkFlagRequired("revocation-id")

	assoc := sub("describe-associations", "List the listeners that use a trust store", func(cmd *cobra.Command) error {
		var resp struct {
			Associations []string `json:"associations"`
		}
		if _, err := c.call("GET", "/api/v1/trust-stores/"+url.PathEscape(name)+"/associations", nil, nil, &resp); err != nil {
			return err
		}
		if c.output == "json" {
			return printJSON(cmd.OutOrStdout(), resp)
		}
		if len(resp.Associations) == 0 {
			fmt.Fprintf(cmd.OutOrStdout(), "no listener uses %s\n", name)
		}
		for _, a := range resp.Associations {
			fmt.Fprintln(cmd.OutOrStdout(), a)
		}
		return nil
	})
	nameFlag(assoc, true)
	return cmd
}

func readUpload(path string, pemText bool) (adminapi.File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return adminapi.File{}, err
	}
	f := adminapi.File{Name: filepath.Base(path)}
	if pemText {
		f.PEM = string(data)
	} else {
		f.Content = data
	}
	return f, nil
}

func readUploads(paths []string) ([]adminapi.File, error) {
	var out []adminapi.File
	for _, p := range paths {
		f, err := readUpload(p, false) // CRLs may be DER: always sent as bytes
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

func printTrustStores(cmd *cobra.Command, c *clientFlags, list []control.TrustStore) error {
	if c.output == "json" {
		return printJSON(cmd.OutOrStdout(), map[string]any{"trust_stores": list})
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCA CERTIFICATES\tREVOCATIONS\tREVOKED ENTRIES\tUPDATED")
	for _, ts := range list {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", ts.Name, ts.NumberOfCACertificates, len(ts.Revocations), ts.TotalRevokedEntries, ts.UpdatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

func printRevocations(cmd *cobra.Command, c *clientFlags, revs []control.Revocation) error {
	if c.output == "json" {
		return printJSON(cmd.OutOrStdout(), map[string]any{"revocations": revs})
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REVOCATION ID\tENTRIES\tISSUER\tNEXT UPDATE\tSOURCE")
	for _, r := range revs {
		next := "-"
		if r.NextUpdate != nil {
			next = r.NextUpdate.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\n", r.ID, r.NumberOfRevokedEntries, r.Issuer, next, r.Source)
	}
	return tw.Flush()
}
