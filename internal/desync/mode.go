package desync

import "fmt"

// Mode is ALB's desync_mitigation_mode. The zero Mode is Defensive, ALB's
// default.
type Mode uint8

// The three mitigation modes.
const (
	// Defensive forwards Compliant and Acceptable requests, forwards an
	// Ambiguous one but closes the client and target connections after
	// its response, and blocks a Severe one.
	Defensive Mode = iota
	// Monitor forwards every request; the classification is only logged.
	Monitor
	// Strictest forwards only Compliant requests.
	Strictest
)

// ParseMode parses a desync_mitigation_mode value: "monitor", "defensive"
// or "strictest", lower case as ALB spells them.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "monitor":
		return Monitor, nil
	case "defensive":
		return Defensive, nil
	case "strictest":
		return Strictest, nil
	}
	return Defensive, fmt.Errorf("desync: unknown mitigation mode %q (want monitor, defensive or strictest)", s)
}

// String returns the mode as configuration spells it.
func (m Mode) String() string {
	switch m {
	case Monitor:
		return "monitor"
	case Defensive:
		return "defensive"
	case Strictest:
		return "strictest"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// Decision is what to do with a request of some class.
type Decision struct {
	// Block: answer 400 without forwarding.
	Block bool
	// CloseAfter: close the client connection after the response (and
	// never reuse the target connection the request went over). Always
	// set with Block: a refused request's end cannot be trusted, so
	// neither can anything after it on the connection.
	CloseAfter bool
}

// Decide returns what m does with a request of class c, per ALB:
//
//	class        monitor   defensive        strictest
//	Compliant    forward   forward          forward
//	Acceptable   forward   forward          block
//	Ambiguous    forward   forward, close   block
//	Severe       forward   block            block
//
// An unknown mode decides like Strictest and an unknown class like Severe,
// failing closed.
func (m Mode) Decide(c Class) Decision {
	block := Decision{Block: true, CloseAfter: true}
	if c > Severe {
		c = Severe
	}
	switch m {
	case Monitor:
		return Decision{}
	case Defensive:
		switch c {
		case Compliant, Acceptable:
			return Decision{}
		case Ambiguous:
			return Decision{CloseAfter: true}
		}
		return block
	}
	if c == Compliant {
		return Decision{}
	}
	return block
}
