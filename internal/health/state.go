package health

// State is a target's health state, in ALB's words.
type State string

// The states a Checker reports. ALB's "draining" and "unused" belong to
// registration and listener wiring, not to checking, and are set elsewhere.
const (
	// StateInitial is a target whose checks have not yet reached either
	// threshold since it was registered.
	StateInitial State = "initial"
	// StateHealthy is a target that passed HealthyThreshold checks in a row.
	StateHealthy State = "healthy"
	// StateUnhealthy is a target that failed UnhealthyThreshold checks in a
	// row.
	StateUnhealthy State = "unhealthy"
	// StateUnavailable is a target whose group has health checks disabled.
	StateUnavailable State = "unavailable"
	// StateDraining is a target removed from its group that keeps its
	// requests in flight for the deregistration delay (set by the engine).
	StateDraining State = "draining"
)

// Reason is ALB's reason code for a state other than healthy.
type Reason string

// ALB's reason codes that a Checker sets.
const (
	// ReasonInitialHealthChecking: the first checks are in progress.
	ReasonInitialHealthChecking Reason = "Elb.InitialHealthChecking"
	// ReasonInternalError: the check could not be made for a reason of the
	// load balancer's own.
	ReasonInternalError Reason = "Elb.InternalError"
	// ReasonResponseCodeMismatch: the response code did not match.
	ReasonResponseCodeMismatch Reason = "Target.ResponseCodeMismatch"
	// ReasonTimeout: no response (or no connection) within the timeout.
	ReasonTimeout Reason = "Target.Timeout"
	// ReasonFailedHealthChecks: the connection failed or was closed.
	ReasonFailedHealthChecks Reason = "Target.FailedHealthChecks"
	// ReasonHealthCheckDisabled: the group's health checks are off.
	ReasonHealthCheckDisabled Reason = "Target.HealthCheckDisabled"
	// ReasonDeregistrationInProgress: the target is draining.
	ReasonDeregistrationInProgress Reason = "Target.DeregistrationInProgress"
)

// ALB's descriptions, word for word, so that scripts written against
// describe-target-health keep working.
const (
	descInitial  = "Initial health checks in progress"
	descTimeout  = "Request timed out"
	descFailed   = "Health checks failed"
	descDisabled = "Health checks disabled"
	descInternal = "Internal error"
)

// TargetHealth is one target's entry of describe-target-health.
type TargetHealth struct {
	// Target is the checked target.
	Target Target `json:"target"`
	// HealthCheckPort is the port the checks go to.
	HealthCheckPort int `json:"health_check_port"`
	// State is the target's state.
	State State `json:"state"`
	// Reason is ALB's reason code; empty when State is healthy.
	Reason Reason `json:"reason,omitempty"`
	// Description is ALB's text for Reason, for example "Health checks
	// failed with these codes: [503]".
	Description string `json:"description,omitempty"`
	// LastError (beyond ALB) is the error of the last failed check, for
	// operators; empty after a success.
	LastError string `json:"last_error,omitempty"`
}
