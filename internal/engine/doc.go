// Package engine is mtlslb's composition root. It compiles a configuration document into an immutable
// snapshot (trust stores, TLS configurations, target groups, handlers), and applies it all or nothing: every
// certificate, bundle and CRL is read and checked, every new socket opened, before anything changes. Then the
// new generation of each listener is swapped in with an atomic pointer; a listener whose address did not change
// keeps its socket, connections already accepted finish on the generation they were authenticated under, and
// listeners that left the document are drained. A trust store with revoke_live_connections also has every live
// connection it admitted re-verified against its new contents, and those it would now refuse closed (revoke.go).
package engine
