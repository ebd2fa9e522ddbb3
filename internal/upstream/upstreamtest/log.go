package upstreamtest

import (
	"io"
	"log"
)

// quietLog discards net/http's server log: handshake failures are what many tests provoke, and
// the test reports what matters itself.
func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }
