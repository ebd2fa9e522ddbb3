// Package e2e drives the real mtlslb binary: it builds it once, runs its commands as an operator would, and
// talks to it over real sockets with real TLS clients and an in-memory PKI.
package e2e
