package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

const usage = `usage:
  tool loadgen -url URL [-c N] [-d DURATION] [-warmup DURATION] [-rate R] [-cert F -key F -ca F] [-paths P,P,...]
  tool target -addr HOST:PORT [-cert F -key F [-client-ca F]]
  tool pki -dir DIR
  tool report -dir DIR [-systems a,b,...] [-output table|json] [-meta k=v,...]
  tool freeport [-n N]
run "tool COMMAND -h" for the flags of one command
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the process exit code: 0 success, 1 failure, 2 usage error.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "loadgen":
		err = runLoadgen(args[1:], stdout, stderr)
	case "target":
		err = runTarget(args[1:], stderr)
	case "pki":
		err = runPKI(args[1:], stderr)
	case "report":
		err = runReport(args[1:], stdout, stderr)
	case "freeport":
		err = runFreePort(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "tool: unknown command %q\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		if errors.Is(err, errUsage) {
			return 2
		}
		fmt.Fprintf(stderr, "tool %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// errUsage reports a command line that the flag package already explained on stderr.
var errUsage = errors.New("usage error")
