// Package config is the typed form of mtlslb's configuration document
// (shared/spec/interface.md): the load balancer's attributes, trust stores,
// listeners with their rules and actions, and target groups.
//
// A document goes through four steps, always in this order, before anything
// uses it:
//
//  1. decode, strictly: unknown keys and values of the wrong type are errors
//     that name their path (listeners[0].mutual_authentication.mdoe);
//  2. [SetDefaults] fills every default in one place;
//  3. file paths are resolved against the document's directory;
//  4. [Validate] checks every rule and reports every problem at once, each
//     with its path, as a [*ValidationError]. It also parses durations into
//     the typed fields marked "set by Validate".
//
// [Load] and [Parse] run all four. The package is pure: it reads the
// document and nothing else. Certificate, key, bundle and CRL files are read
// and checked by the engine, which reports problems with the file's path.
//
// The document is decoded in full (it is the contract), but the server does
// not yet run all of it: [CheckSupported] lists what is accepted by the
// format and not served yet, and [Validate] includes those problems so that no
// configuration is ever half applied.
package config
