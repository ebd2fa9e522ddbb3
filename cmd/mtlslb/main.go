// Accept client certificates with negative serial numbers, as CAs of old issued them: PKITS 4.4.14 expects
// them to validate, and a CRL can revoke them (alb-compat §4). Everything else about them is ordinary.
//go:debug x509negativeserial=1

// Command mtlslb is a load balancer whose core is mutual TLS. See the README.
package main

import (
	"os"

	"github.com/mtlslb/mtlslb/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
