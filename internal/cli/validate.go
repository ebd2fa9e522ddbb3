package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mtlslb/mtlslb/internal/config"
	"github.com/mtlslb/mtlslb/internal/engine"
)

func newValidate() *cobra.Command {
	var path, output string
	cmd := &cobra.Command{
		Use:   "validate --config FILE",
		Short: "Check a configuration as serve would, and list every problem",
		Long: `Check a configuration file the way serve would: the document itself, and every certificate, key, CA
bundle and CRL it names. Every problem is printed, one per line, starting with where it is. Exit status 1 if
there is any.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return usageError{errors.New("--config FILE is required")}
			}
			if output != "table" && output != "json" {
				return usageError{fmt.Errorf("--output: %q is not table or json", output)}
			}
			doc, err := config.Load(path)
			var compiled *engine.Compiled
			if err == nil {
				// CRLs named by URL are fetched once, as serve would at start (without keeping a copy).
				ctx, cancel := context.WithCancel(context.Background())
				remote := engine.NewRemoteCRLs(ctx, "", nil, nil)
				compiled, err = engine.Compile(doc, engine.CompileOptions{FetchCRL: remote.Get}, nil)
				cancel()
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				res := struct {
					Valid    bool     `json:"valid"`
					File     string   `json:"file"`
					Problems []string `json:"problems"`
				}{Valid: err == nil, File: path, Problems: []string{}}
				if err != nil {
					res.Problems = problemList(err)
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				_ = enc.Encode(res)
			} else if err != nil {
				problems := problemList(err)
				fmt.Fprintf(cmd.ErrOrStderr(), "%s: %d problem(s):\n", path, len(problems))
				for _, p := range problems {
					fmt.Fprintln(cmd.ErrOrStderr(), "  "+p)
				}
			} else {
				fmt.Fprintf(out, "%s: ok (%d listeners, %d trust stores, %d target groups)\n",
					path, len(doc.Listeners), len(compiled.TrustStores()), len(doc.TargetGroups))
			}
			if err != nil {
				return failure{ExitFailed}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "configuration file")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}
