package config_test

import (
	"errors"
	"fmt"

	"github.com/mtlslb/mtlslb/internal/config"
)

func ExampleParse() {
	doc := `
trust_stores:
  - name: partners
    ca_certificates_bundle: pki/ca.pem
listeners:
  - port: 8443
    protocol: HTTPS
    certificates: [{ certificate: pki/server.pem, private_key: pki/server-key.pem }]
    mutual_authentication: { mode: verify, trust_store: partners }
    default_actions: [{ type: forward, target_group: app }]
target_groups:
  - name: app
    targets: [{ id: 127.0.0.1, port: 8080 }]
`
	d, err := config.Parse([]byte(doc), "/etc/mtlslb")
	if err != nil {
		fmt.Println(err)
		return
	}
	l := d.Listeners[0]
	fmt.Println(l.MutualAuthentication.Mode, l.MutualAuthentication.TrustStore, l.SSLPolicy)
	fmt.Println(l.Certificates[0].Certificate.Path())
	fmt.Println(l.HeaderName(config.HeaderClientCertSubject))
	// Output:
	// verify partners ELBSecurityPolicy-TLS13-1-2-2021-06
	// /etc/mtlslb/pki/server.pem
	// X-Amzn-Mtls-Clientcert-Subject
}

func ExampleValidationError() {
	doc := `
listeners:
  - port: 0
    protocol: HTTPS
    mutual_authentication: { mdoe: verify }
    default_actions: [{ type: forward, target_group: app }]
`
	_, err := config.Parse([]byte(doc), "")
	var verr *config.ValidationError
	if errors.As(err, &verr) {
		for _, fe := range verr.Errors {
			fmt.Println(fe)
		}
	}
	// Output:
	// listeners[0].port: must be between 1 and 65535, not 0 (line 3)
	// listeners[0].certificates: an HTTPS listener needs at least one certificate (line 3)
	// listeners[0].mutual_authentication.mdoe: unknown field (did you mean "mode"?) (line 5)
	// listeners[0].default_actions[0].target_group: no target group named "app" (line 6)
}
