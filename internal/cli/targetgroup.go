package cli

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"text/tabwriter"

	"github.com/spf13/cobra"

	adminapi "github.com/mtlslb/mtlslb/internal/admin"
	"github.com/mtlslb/mtlslb/internal/control"
)

func newTargetGroup() *cobra.Command {
	c := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "target-group",
		Short: "Register and deregister targets (store mode), with the verbs of `aws elbv2`",
		Long: `Register and deregister the targets of a target group of a running mtlslb in store mode
(serve --data-dir), through its admin API. The verbs and flags are ELBv2's:

  mtlslb target-group register-targets --target-group-name app --targets id=10.0.0.1,port=8080 [--targets …]
  mtlslb target-group deregister-targets --target-group-name app --targets id=10.0.0.1,port=8080
  mtlslb target-group describe-target-health --target-group-name app

As with ALB, registering a target that is registered already, or deregistering one that is not, changes
nothing and succeeds. A change edits the stored document (its comments are lost: it is stored as JSON from
then on) and applies to new requests without a restart; the next apply -f replaces the document whole,
registered targets included.

Health checks are not run yet (they arrive with layer-7 routing): describe-target-health reports every target
as unavailable (Target.HealthCheckDisabled), or unused (Target.NotInUse) when no listener forwards to the
group, and never guesses.`,
	}
	c.register(cmd)
	var group string
	var targetFlags []string
	groupFlag := func(sub *cobra.Command) {
		sub.Flags().StringVar(&group, "target-group-name", "", "target group name")
		_ = sub.MarkFlagRequired("target-group-name")
	}
	// run checks the common flags, then reports an admin API refusal as exit status 1.
	run := func(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			if err := c.check(); err != nil {
				return err
			}
			return reportAPIError(cmd, c, f(cmd, args))
		}
	}
	edit := func(use, short, method, done string) *cobra.Command {
		s := &cobra.Command{
			Use:   use + " --target-group-name NAME --targets id=ADDRESS,port=PORT [--targets …]",
			Short: short,
			// aws elbv2 takes several targets after one flag (--targets Id=a,Port=1 Id=b,Port=2): the words
			// after --targets are read as further targets, but only then, so a stray word is still an error.
			Args: args(func(cmd *cobra.Command, a []string) error {
				if len(a) > 0 && len(targetFlags) == 0 {
					return fmt.Errorf("unexpected argument %q (targets are given with --targets id=ADDRESS,port=PORT)", a[0])
				}
				return nil
			}),
			RunE: run(func(cmd *cobra.Command, a []string) error {
				targets, err := parseTargets(append(append([]string(nil), targetFlags...), a...))
				if err != nil {
					return err
				}
				var res control.TargetGroupTargets
				if _, err := c.call(method, "/api/v1/target-groups/"+url.PathEscape(group)+"/targets", nil, adminapi.TargetsRequest{Targets: targets}, &res); err != nil {
					return err
				}
				if c.output == "json" {
					return printJSON(cmd.OutOrStdout(), res)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s; target group %s now has %d target(s) (configuration revision %d):\n",
					done, group, len(res.Targets), res.Revision)
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "  TARGET\tPORT")
				for _, t := range res.Targets {
					fmt.Fprintf(tw, "  %s\t%d\n", t.ID, t.Port)
				}
				return tw.Flush()
			}),
		}
		groupFlag(s)
		s.Flags().StringArrayVar(&targetFlags, "targets", nil, "a target as id=ADDRESS,port=PORT; repeat for more")
		_ = s.MarkFlagRequired("targets")
		cmd.AddCommand(s)
		return s
	}
	edit("register-targets", "Register targets in a target group (registered ones are left as they are)", http.MethodPost, "registered (those registered already are unchanged)")
	edit("deregister-targets", "Deregister targets from a target group (unknown ones are ignored)", http.MethodDelete, "deregistered (those not registered are ignored)")

	describe := &cobra.Command{
		Use:   "describe-target-health --target-group-name NAME",
		Short: "Describe the health of a target group's targets",
		Args:  args(cobra.NoArgs),
		RunE: run(func(cmd *cobra.Command, _ []string) error {
			var resp adminapi.TargetHealthResponse
			if _, err := c.call(http.MethodGet, "/api/v1/target-groups/"+url.PathEscape(group)+"/health", nil, nil, &resp); err != nil {
				return err
			}
			if c.output == "json" {
				return printJSON(cmd.OutOrStdout(), resp)
			}
			if len(resp.TargetHealthDescriptions) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "target group %s has no registered targets\n", group)
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TARGET\tPORT\tHEALTH CHECK PORT\tSTATE\tREASON\tDESCRIPTION")
			for _, d := range resp.TargetHealthDescriptions {
				th := d.TargetHealth
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", d.Target.ID, d.Target.Port, d.HealthCheckPort, th.State, th.Reason, th.Description)
			}
			return tw.Flush()
		}),
	}
	groupFlag(describe)
	cmd.AddCommand(describe)
	return cmd
}

// parseTargets reads --targets values; a malformed one is a usage error (exit 2).
func parseTargets(values []string) ([]control.Target, error) {
	if len(values) == 0 {
		return nil, usageError{errors.New("give at least one --targets id=ADDRESS,port=PORT")}
	}
	out := make([]control.Target, 0, len(values))
	for _, v := range values {
		t, err := control.ParseTarget(v)
		if err != nil {
			return nil, usageError{fmt.Errorf("--targets: %w", err)}
		}
		out = append(out, t)
	}
	return out, nil
}
