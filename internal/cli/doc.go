// Package cli is mtlslb's command tree. Main runs it and returns the process exit code: 0 success, 1 the
// request was refused or a check failed, 2 usage error. Nothing below Main exits the process.
package cli
