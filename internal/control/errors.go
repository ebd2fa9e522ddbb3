package control

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is a refusal with ALB's error name, an HTTP status for the admin API and a plain-language message.
type Error struct {
	Code    string
	Status  int
	Message string

	cause error // the store's error this refusal reports, if any
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Unwrap returns the store's error behind the refusal (nil for most), so that callers can tell a lost
// revision race (configstore.ErrConflict) from a collected blob (configstore.ErrBlobNotFound).
func (e *Error) Unwrap() error { return e.cause }

// The error names (ELBv2's where it has one).
const (
	CodeDuplicateTrustStoreName  = "DuplicateTrustStoreName"
	CodeTrustStoreNotFound       = "TrustStoreNotFound"
	CodeInvalidCaCertificates    = "InvalidCaCertificatesBundle"
	CodeInvalidRevocationContent = "InvalidRevocationContent"
	CodeTooManyRevocationEntries = "TooManyTrustStoreRevocationEntries"
	CodeRevocationIDNotFound     = "RevocationIdNotFound"
	CodeTrustStoreInUse          = "TrustStoreInUse"
	CodeValidationError          = "ValidationError"
	CodeInvalidConfiguration     = "InvalidConfigurationRequest"
	CodePreconditionFailed       = "PreconditionFailed"
	CodeReadOnly                 = "ReadOnlyConfiguration"
	CodeConflict                 = "ConcurrentModification"
)

func newError(code string, status int, format string, a ...any) *Error {
	return &Error{Code: code, Status: status, Message: fmt.Sprintf(format, a...)}
}

func notFound(name string) *Error {
	return newError(CodeTrustStoreNotFound, http.StatusNotFound, "no trust store named %q", name)
}

// AsError returns err as an *Error, wrapping anything else as an internal error.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: "InternalError", Status: http.StatusInternalServerError, Message: err.Error()}
}
