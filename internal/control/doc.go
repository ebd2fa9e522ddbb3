// Package control is store mode's control plane: the trust-store operations of ELBv2 (create, modify,
// delete, describe, add/remove/describe revocations, get the CA bundle or a CRL's content, describe
// associations), target registration (register, deregister, describe target health) and the
// whole-document get/put, over a configstore.Store, with ALB's semantics and error names.
//
// Every write is checked in full before it is stored: a bundle or CRL that truststore would refuse, or a
// change after which the document would not compile, is answered with an error and changes nothing. The
// stored state is then what the engine applies; nothing is half applied.
//
// Layout in the store:
//
//	config                 the document as uploaded (YAML or JSON), without trust stores
//	truststores/<name>     a trust store: its bundle and CRLs as blob digests, ids, settings (JSON)
//	blobs                  CA bundles and CRLs, by content address
//
// A blob no trust store names any more (a replaced bundle, a removed CRL) is deleted by RunBlobCollection,
// which serve runs in store mode, once it has been unreferenced for Options.BlobGrace.
package control
