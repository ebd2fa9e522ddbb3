package traceid

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"
)

const (
	// HeaderName is the canonical name of the request header.
	HeaderName = "X-Amzn-Trace-Id"

	// MaxLen is the longest inbound header value Parse accepts, 7 KiB:
	// ALB rewrites the header to a new Root once the request's headers pass
	// 7 KB, and no legitimate tracer comes near it. A forwarded value is at
	// most MaxLen+SelfFieldLen bytes long (a Self field added to a value
	// that had none).
	MaxLen = 7 << 10

	// SelfFieldLen is the length of the "Self=<id>;" that AppendSelf adds
	// to a value without a Self field.
	SelfFieldLen = len("Self=") + idLen + len(";")

	// idLen is the length of an ID's text: "1-" + 8 + "-" + 24.
	idLen = 2 + 8 + 1 + 24
)

// Errors returned by Parse and ParseID, wrapped with details.
var (
	// ErrMalformed reports a value that is not a ';'-separated list of
	// key=value fields with a valid Root, or whose Root or Self is not an
	// ID.
	ErrMalformed = errors.New("malformed trace id")
	// ErrTooLong reports a value longer than MaxLen.
	ErrTooLong = errors.New("trace id header too long")
)

// ID is one trace identifier: version 1, the epoch second it was made and
// 96 random bits. Its text form is "1-5759e988-bd862e3fe1be46a994272793".
// The zero ID is not a valid identifier.
type ID struct {
	epoch  uint32
	random [12]byte
}

// New returns a new ID for the time now, its 96 random bits from
// crypto/rand so that a client cannot predict, and so collide with, the id
// of another request. The epoch is the low 32 bits of now's Unix seconds,
// as in X-Ray, so it wraps in 2106.
func New(now time.Time) ID {
	id := ID{epoch: uint32(now.Unix())}
	rand.Read(id.random[:]) // never returns an error since Go 1.24
	return id
}

// ParseID parses the text form of an ID, hex digits in either case.
func ParseID(s string) (ID, error) {
	if !validID(s) {
		return ID{}, fmt.Errorf("parsing trace id %q: %w", truncate(s), ErrMalformed)
	}
	var id ID
	var epoch [4]byte
	// validID has checked every digit.
	hex.Decode(epoch[:], []byte(s[2:10]))
	hex.Decode(id.random[:], []byte(s[11:]))
	id.epoch = binary.BigEndian.Uint32(epoch[:])
	return id, nil
}

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool {
	return id == ID{}
}

// Time returns the second id was made at.
func (id ID) Time() time.Time {
	return time.Unix(int64(id.epoch), 0).UTC()
}

// String returns the text form of id, "1-<8 hex>-<24 hex>", lower case.
func (id ID) String() string {
	var buf [idLen]byte
	return string(id.appendText(buf[:0]))
}

// AppendText appends the String form of id to dst; it implements
// encoding.TextAppender.
func (id ID) AppendText(dst []byte) ([]byte, error) {
	return id.appendText(dst), nil
}

// MarshalText returns the String form of id; it implements
// encoding.TextMarshaler.
func (id ID) MarshalText() ([]byte, error) {
	return id.appendText(nil), nil
}

// HeaderValue returns the header value of a request that arrived without
// one: "Root=" followed by id.
func (id ID) HeaderValue() string {
	var buf [len("Root=") + idLen]byte
	return string(id.AppendHeaderValue(buf[:0]))
}

// AppendHeaderValue appends the HeaderValue of id to dst.
func (id ID) AppendHeaderValue(dst []byte) []byte {
	dst = append(dst, "Root="...)
	return id.appendText(dst)
}

func (id ID) appendText(dst []byte) []byte {
	var epoch [4]byte
	binary.BigEndian.PutUint32(epoch[:], id.epoch)
	dst = append(dst, '1', '-')
	dst = hex.AppendEncode(dst, epoch[:])
	dst = append(dst, '-')
	return hex.AppendEncode(dst, id.random[:])
}

// validID reports whether s is the text form of an ID.
func validID(s string) bool {
	if len(s) != idLen || s[0] != '1' || s[1] != '-' || s[10] != '-' {
		return false
	}
	return isHex(s[2:10]) && isHex(s[11:])
}

func isHex(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// Header is a parsed inbound X-Amzn-Trace-Id value. It refers to the
// string it was parsed from and allocates nothing to read. The zero Header
// stands for a request without the header.
type Header struct {
	raw                         string // validated by Parse
	root, parent, self, sampled string // values, substrings of raw
}

// Parse parses an inbound X-Amzn-Trace-Id value: fields "key=value"
// separated by ';', such as
//
//	Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1
//
// Blanks (spaces, tabs) around a field and empty fields are tolerated and
// dropped when the header is formatted again. Keys are case-sensitive
// HTTP tokens; values are printable ASCII without blanks or ';' ('=' is
// allowed after the first). Root is required and, like Self when present,
// must be an ID; Parent and Sampled are not checked further, because X-Ray
// is not the only tracer that sets them. Each of Root, Parent, Self and
// Sampled may appear once; other keys are kept as they come, repeats
// included.
//
// The error wraps ErrTooLong or ErrMalformed. Either way the caller should
// forward a new Root instead (see Forward), not refuse the request.
func Parse(header string) (Header, error) {
	if len(header) > MaxLen {
		return Header{}, fmt.Errorf("parsing %s: %w: %d bytes, at most %d", HeaderName, ErrTooLong, len(header), MaxLen)
	}
	h := Header{raw: header}
	var seen [4]bool // Root, Self, Parent, Sampled: values may be empty
	for rest := header; rest != ""; {
		var field string
		field, rest, _ = strings.Cut(rest, ";")
		field = trimBlanks(field)
		if field == "" {
			continue
		}
		key, value, ok := strings.Cut(field, "=")
		if !ok || !isToken(key) || !isValue(value) {
			return Header{}, fmt.Errorf("parsing %s: %w: bad field %q", HeaderName, ErrMalformed, truncate(field))
		}
		var slot *string
		var n int
		switch key {
		case "Root":
			slot, n = &h.root, 0
		case "Self":
			slot, n = &h.self, 1
		case "Parent":
			slot, n = &h.parent, 2
		case "Sampled":
			slot, n = &h.sampled, 3
		default:
			continue
		}
		if seen[n] {
			return Header{}, fmt.Errorf("parsing %s: %w: %s appears twice", HeaderName, ErrMalformed, key)
		}
		if (key == "Root" || key == "Self") && !validID(value) {
			return Header{}, fmt.Errorf("parsing %s: %w: %s=%q is not 1-<8 hex>-<24 hex>", HeaderName, ErrMalformed, key, truncate(value))
		}
		seen[n] = true
		*slot = value
	}
	if h.root == "" {
		return Header{}, fmt.Errorf("parsing %s: %w: no Root field", HeaderName, ErrMalformed)
	}
	return h, nil
}

// Root returns the Root field's value, "" for the zero Header.
func (h Header) Root() string { return h.root }

// Self returns the Self field's value, "" when there is none.
func (h Header) Self() string { return h.self }

// Parent returns the Parent field's value, "" when there is none.
func (h Header) Parent() string { return h.parent }

// Sampled returns the Sampled field's value, "" when there is none.
func (h Header) Sampled() string { return h.sampled }

// Get returns the value of the first field named key.
func (h Header) Get(key string) (value string, ok bool) {
	for k, v := range h.All() {
		if k == key {
			return v, true
		}
	}
	return "", false
}

// All yields every field, Root, Self, Parent and Sampled included, in the
// order of the header.
func (h Header) All() iter.Seq2[string, string] {
	return func(yield func(key, value string) bool) {
		for rest := h.raw; rest != ""; {
			var field string
			field, rest, _ = strings.Cut(rest, ";")
			field = trimBlanks(field)
			if field == "" {
				continue
			}
			key, value, _ := strings.Cut(field, "=")
			if !yield(key, value) {
				return
			}
		}
	}
}

// String returns the header formatted again: its fields in order, joined
// by ';', without the blanks and empty fields Parse tolerated. The zero
// Header formats as "".
func (h Header) String() string {
	var buf [256]byte
	return string(h.appendFields(buf[:0], nil))
}

// AppendText appends the String form of h to dst; it implements
// encoding.TextAppender.
func (h Header) AppendText(dst []byte) ([]byte, error) {
	return h.appendFields(dst, nil), nil
}

// AddSelf returns the value to forward for h on the hop named id: h with
// its Self field set to id, replaced where it stands or else put first.
// For the zero Header (no inbound header) it returns "Root=<id>".
func (h Header) AddSelf(id ID) string {
	// A typical value fits the stack buffer, leaving the string as the
	// only allocation.
	var buf [256]byte
	return string(h.AppendSelf(buf[:0], id))
}

// AppendSelf appends the AddSelf value to dst.
func (h Header) AppendSelf(dst []byte, id ID) []byte {
	switch {
	case h.root == "":
		return id.AppendHeaderValue(dst)
	case h.self == "":
		dst = append(dst, "Self="...)
		dst = id.appendText(dst)
		dst = append(dst, ';')
		return h.appendFields(dst, nil)
	}
	return h.appendFields(dst, &id)
}

// appendFields appends the fields of h joined by ';', with Self's value
// replaced by self when self is not nil.
func (h Header) appendFields(dst []byte, self *ID) []byte {
	first := true
	for k, v := range h.All() {
		if !first {
			dst = append(dst, ';')
		}
		first = false
		dst = append(dst, k...)
		dst = append(dst, '=')
		if self != nil && k == "Self" {
			dst = self.appendText(dst)
		} else {
			dst = append(dst, v...)
		}
	}
	return dst
}

// Forward returns the value to forward for a request whose inbound header
// value is inbound ("" when it had none), with a new ID made at now: the
// inbound value with Self added when it is valid, else "Root=<new id>".
// A non-nil error says why a non-empty inbound value was replaced (for a
// metric or a debug log); the returned value is usable either way.
//
// A request carrying the header more than once should be passed its values
// joined by ',': the comma is not a valid value byte, so the request gets a
// new Root, as for any value that cannot be trusted to be one trace.
func Forward(inbound string, now time.Time) (string, error) {
	id := New(now)
	if inbound == "" {
		return id.HeaderValue(), nil
	}
	h, err := Parse(inbound)
	if err != nil {
		return id.HeaderValue(), err
	}
	return h.AddSelf(id), nil
}

func trimBlanks(s string) string {
	return strings.Trim(s, " \t")
}

// isToken reports whether s is an HTTP token (RFC 9110 §5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// isValue reports whether s is a valid field value: visible ASCII other
// than ';' (which Cut has already split on) and ',' (which would make the
// header a list).
func isValue(s string) bool {
	for i := range len(s) {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == ',' {
			return false
		}
	}
	return true
}

// truncate shortens s for an error message; an inbound value can be 7 KiB.
func truncate(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
