package desync

import (
	"bytes"
	"strconv"
)

// Class is the desync classification of one request, ordered from harmless
// to dangerous so that a larger Class is always the worse one.
type Class uint8

// The four classes of ALB's desync mitigation.
const (
	// Compliant requests follow RFC 7230 and carry no known risk.
	Compliant Class = iota
	// Acceptable requests break RFC 7230 in ways no known parser
	// disagrees about.
	Acceptable
	// Ambiguous requests break RFC 7230 in ways servers and proxies may
	// disagree about, so where one request ends is uncertain.
	Ambiguous
	// Severe requests are malformed or crafted to split requests.
	Severe
)

// String returns the class name as ALB writes it in the access log's
// classification field.
func (c Class) String() string {
	switch c {
	case Compliant:
		return "Compliant"
	case Acceptable:
		return "Acceptable"
	case Ambiguous:
		return "Ambiguous"
	case Severe:
		return "Severe"
	}
	return "Class(" + strconv.Itoa(int(c)) + ")"
}

// Verdict is the classification of one request and why. Reason is one of
// the Reason constants, ALB's classification_reason; it is empty for a
// Compliant request, which ALB logs as "-".
type Verdict struct {
	Class  Class
	Reason string
}

// Classification reasons, as ALB writes them in classification_reason.
// Each comment gives the class the reason comes with.
const (
	// ReasonNonCompliantHeader (Acceptable): a header that does not govern
	// the body has a control or non-token character in its name or value.
	ReasonNonCompliantHeader = "NonCompliantHeader"
	// ReasonNonCompliantVersion (Acceptable): HTTP/0.9 (no version),
	// HTTP/1.2 to HTTP/1.9, or white space around the version.
	ReasonNonCompliantVersion = "NonCompliantVersion"
	// ReasonSpaceInURI (Acceptable): an unescaped space in the target.
	ReasonSpaceInURI = "SpaceInUri"
	// ReasonGetHeadZeroContentLength (Acceptable): GET or HEAD with
	// "Content-Length: 0".
	ReasonGetHeadZeroContentLength = "GetHeadZeroContentLength"
	// ReasonNonCrLfLineTermination (Acceptable): a line ends in a bare LF.
	ReasonNonCrLfLineTermination = "NonCrLfLineTermination"

	// ReasonAmbiguousURI (Ambiguous): a control character other than CR,
	// LF and NUL in the target.
	ReasonAmbiguousURI = "AmbiguousUri"
	// ReasonEmptyHeader (Ambiguous): a header line with an empty or
	// all-white-space name.
	ReasonEmptyHeader = "EmptyHeader"
	// ReasonUndefinedContentLengthSemantics (Ambiguous): a non-zero
	// Content-Length on GET or HEAD, or any Content-Length on HTTP/0.9.
	ReasonUndefinedContentLengthSemantics = "UndefinedContentLengthSemantics"
	// ReasonUndefinedTransferEncodingSemantics (Ambiguous):
	// Transfer-Encoding on GET, HEAD, HTTP/1.0 or HTTP/0.9.
	ReasonUndefinedTransferEncodingSemantics = "UndefinedTransferEncodingSemantics"
	// ReasonDuplicateContentLength (Ambiguous): Content-Length repeated
	// with the same value.
	ReasonDuplicateContentLength = "DuplicateContentLength"
	// ReasonBothTeClPresent (Ambiguous): both Transfer-Encoding and
	// Content-Length.
	ReasonBothTeClPresent = "BothTeClPresent"
	// ReasonSuspiciousHeader (Ambiguous): a name that normalises to
	// Transfer-Encoding or Content-Length without being it, such as
	// "Transfer-Encoding " or "Content_Length".
	ReasonSuspiciousHeader = "SuspiciousHeader"
	// ReasonMultilineHeader (Ambiguous): an obs-fold continuation line
	// anywhere but in Content-Type.
	ReasonMultilineHeader = "MultilineHeader"
	// ReasonPartialHeaderLine (Ambiguous): the head ends inside a line.
	ReasonPartialHeaderLine = "PartialHeaderLine"
	// ReasonMissingLastEmptyLine (Ambiguous): the head has no blank line.
	ReasonMissingLastEmptyLine = "MissingLastEmptyLine"
	// ReasonMissingHeaderColon (Ambiguous): a header line without a colon.
	ReasonMissingHeaderColon = "MissingHeaderColon"
	// ReasonMissingURI (Ambiguous): the request line has no target.
	ReasonMissingURI = "MissingUri"

	// ReasonBadHeader (Severe): NUL, CR or LF inside a header name or value.
	ReasonBadHeader = "BadHeader"
	// ReasonBadURI (Severe): NUL, CR or LF inside the target.
	ReasonBadURI = "BadUri"
	// ReasonBadVersion (Severe): a version that is not HTTP/1.x.
	ReasonBadVersion = "BadVersion"
	// ReasonBadMethod (Severe): a method that is not a token.
	ReasonBadMethod = "BadMethod"
	// ReasonMultipleContentLength (Severe): Content-Length headers that
	// disagree.
	ReasonMultipleContentLength = "MultipleContentLength"
	// ReasonBadContentLength (Severe): a Content-Length that is not a
	// decimal number below 2^64.
	ReasonBadContentLength = "BadContentLength"
	// ReasonMultipleTransferEncodingChunked (Severe): chunked applied twice
	// in a row.
	ReasonMultipleTransferEncodingChunked = "MultipleTransferEncodingChunked"
	// ReasonBadTransferEncoding (Severe): a coding other than chunked,
	// compress, deflate, gzip and identity.
	ReasonBadTransferEncoding = "BadTransferEncoding"
)

// Reasons only Conn gives; ALB has no name for them because its own parser
// refuses such input before classifying.
const (
	// ReasonHeadTooLarge (Severe): a request head longer than the limit
	// given to NewConn.
	ReasonHeadTooLarge = "HeadTooLarge"
	// ReasonUnknownBoundary (Severe): the connection carried something
	// whose end cannot be found the way net/http finds it (a head the
	// server refuses, a corrupt chunked body, too many pipelined
	// requests), so no later request on it can be trusted.
	ReasonUnknownBoundary = "UnknownRequestBoundary"
)

// verdictState accumulates a verdict the way the library does: a finding
// replaces the current one only if its class is strictly worse, so the
// reason is the first one found at the worst class.
type verdictState struct {
	class  Class
	reason string
}

func (s *verdictState) upgrade(c Class, reason string) {
	if c > s.class {
		s.class, s.reason = c, reason
	}
}

func (s *verdictState) merge(o verdictState) { s.upgrade(o.class, o.reason) }

// Classify classifies one raw HTTP/1.x request head: the request line and
// header lines up to and including the blank line. Bytes after the blank
// line are ignored. It allocates nothing.
//
// The rules are those of aws/http-desync-guardian, which ALB runs, in its
// order: the first reason found at the worst class wins. The one deliberate
// difference: the library skips any request whose version sorts at or after
// "HTTP/2" byte-wise (so "http/1.1" and "XYZ" too); here only versions
// spelled HTTP/2 to HTTP/9 are skipped, and other garbage is BadVersion.
func Classify(head []byte) Verdict {
	var parse verdictState // findings of the raw parse; the library reports them first
	rl := parseRequestLine(head, &parse)

	version := rl.version
	if isH2OrLater(version) {
		// HTTP/2 and later are outside the library's scope: Compliant,
		// parse findings included.
		return Verdict{}
	}
	if len(trimWS(version)) == 0 {
		version = []byte("HTTP/0.9")
	}

	var (
		hdr     verdictState // header character and name findings
		te, cl  verdictState // Transfer-Encoding and Content-Length values
		teCount int
		clCount int
		chunked bool // the previous coding seen was chunked
		clSet   bool
		clValue uint64
	)
	s := headerScanner{buf: head, pos: rl.headersAt, end: len(head)}
	for s.next() {
		if s.noCR {
			parse.upgrade(Acceptable, ReasonNonCrLfLineTermination)
		}
		if s.missingColon {
			parse.upgrade(Ambiguous, ReasonMissingHeaderColon)
		}
		if s.folded {
			parse.upgrade(Ambiguous, ReasonMultilineHeader)
		}
		if s.partialLine {
			parse.upgrade(Ambiguous, ReasonPartialHeaderLine)
		} else if s.missingBlank {
			parse.upgrade(Ambiguous, ReasonMissingLastEmptyLine)
		}

		switch classifyHeader(s.name, s.value, &hdr) {
		case headerTE:
			teCount++
			chunked = checkTransferEncoding(s.value, chunked, &te)
		case headerCL:
			clCount++
			n, ok := parseDecimal(s.value)
			switch {
			case !ok:
				cl.upgrade(Severe, ReasonBadContentLength)
			case !clSet:
				clSet, clValue = true, n
			case n != clValue:
				cl.upgrade(Severe, ReasonMultipleContentLength)
			default:
				cl.upgrade(Ambiguous, ReasonDuplicateContentLength)
			}
		}
	}
	if s.blankNoCR {
		parse.upgrade(Acceptable, ReasonNonCrLfLineTermination)
	}

	st := parse
	st.merge(hdr)
	switch {
	case teCount == 0 && clCount == 0:
	case bytes.Compare(version, []byte("HTTP/1.0")) <= 0 && teCount > 0:
		// Before HTTP/1.1 the body framing headers mean nothing certain,
		// so their values are not judged.
		st.upgrade(Ambiguous, ReasonUndefinedTransferEncodingSemantics)
	case bytes.Compare(version, []byte("HTTP/1.0")) < 0 && clCount > 0:
		st.upgrade(Ambiguous, ReasonUndefinedContentLengthSemantics)
	default:
		st.merge(te)
		st.merge(cl)
		if string(rl.method) == "GET" || string(rl.method) == "HEAD" {
			if teCount > 0 {
				st.upgrade(Ambiguous, ReasonUndefinedTransferEncodingSemantics)
			}
			if clSet && clValue == 0 {
				st.upgrade(Acceptable, ReasonGetHeadZeroContentLength)
			} else if clSet {
				st.upgrade(Ambiguous, ReasonUndefinedContentLengthSemantics)
			}
		}
		if clSet && teCount > 0 {
			st.upgrade(Ambiguous, ReasonBothTeClPresent)
		}
	}

	for _, b := range rl.method {
		if !isTchar(b) {
			st.upgrade(Severe, ReasonBadMethod)
			break
		}
	}
	checkVersion(version, &st)
	checkURI(rl.uri, &st)
	return Verdict{Class: st.class, Reason: st.reason}
}

// isH2OrLater reports whether version names HTTP/2 or later.
func isH2OrLater(version []byte) bool {
	return len(version) > 5 && string(version[:5]) == "HTTP/" && version[5] >= '2' && version[5] <= '9'
}

func checkVersion(version []byte, st *verdictState) {
	t := trimWS(version)
	if string(t) == "HTTP/0.9" {
		st.upgrade(Acceptable, ReasonNonCompliantVersion)
		return
	}
	if len(t) != len("HTTP/1.1") || string(t[:7]) != "HTTP/1." || !isDigit(t[7]) {
		st.upgrade(Severe, ReasonBadVersion)
		return
	}
	if len(t) != len(version) || t[7] > '1' {
		st.upgrade(Acceptable, ReasonNonCompliantVersion)
	}
}

func checkURI(uri []byte, st *verdictState) {
	for _, b := range uri {
		switch {
		case b > ' ' && b != 0x7f:
		case isBadByte(b):
			st.upgrade(Severe, ReasonBadURI)
			return
		case b == ' ':
			st.upgrade(Acceptable, ReasonSpaceInURI)
		default:
			st.upgrade(Ambiguous, ReasonAmbiguousURI)
		}
	}
}

// headerRole is what a header means for body framing in the library's eyes.
type headerRole uint8

const (
	headerOther headerRole = iota
	headerTE               // Transfer-Encoding, or a name suspiciously like it
	headerCL               // Content-Length, or a name suspiciously like it
)

// classifyHeader records the findings about one header's characters and
// name in st and says whether its value takes part in body framing. A
// suspicious look-alike of Transfer-Encoding or Content-Length takes part:
// some parser in the chain may well normalise it into the real thing.
func classifyHeader(name, value []byte, st *verdictState) headerRole {
	teSim := similarity(nameTE, name)
	clSim := distant
	if teSim == distant {
		clSim = similarity(nameCL, name)
	}
	essential := teSim == identical || clSim == identical

	tier := charTier(name, isTchar)
	if vt := charTier(value, isHeaderValueByte); vt > tier {
		tier = vt
	}
	switch tier {
	case tierBad:
		st.upgrade(Severe, ReasonBadHeader)
	case tierNonCompliant:
		st.upgrade(Acceptable, ReasonNonCompliantHeader)
	}

	switch trimmed := trimWS(name); {
	case len(trimmed) == 0 || trimmed[0] == ':':
		st.upgrade(Ambiguous, ReasonEmptyHeader)
	case !essential && tier != tierBad:
		switch {
		case teSim == sameLetters:
			st.upgrade(Ambiguous, ReasonSuspiciousHeader)
			return headerTE
		case clSim == sameLetters:
			st.upgrade(Ambiguous, ReasonSuspiciousHeader)
			return headerCL
		}
	case teSim == identical:
		return headerTE
	case clSim == identical:
		return headerCL
	}
	return headerOther
}

// checkTransferEncoding judges each coding of one Transfer-Encoding value
// into st. prevChunked says whether the coding before it (possibly in an
// earlier header) was chunked; the result says the same of its last one.
// Like the library, only chunked twice in a row is MultipleTransferEncodingChunked.
func checkTransferEncoding(value []byte, prevChunked bool, st *verdictState) bool {
	start := 0
	for i := 0; i <= len(value); i++ {
		if i < len(value) && value[i] != ',' {
			continue
		}
		coding, known := transferCoding(value[start:i])
		start = i + 1
		if !known {
			st.upgrade(Severe, ReasonBadTransferEncoding)
			// An unknown coding leaves the chunked run as it was.
			continue
		}
		isChunked := coding == "chunked"
		if prevChunked && isChunked {
			st.upgrade(Severe, ReasonMultipleTransferEncodingChunked)
		}
		prevChunked = isChunked
	}
	return prevChunked
}

// transferCoding names the coding in one comma-separated item, parameters
// dropped, if it is one the library knows.
func transferCoding(item []byte) (string, bool) {
	item = trimWS(item)
	if i := bytes.IndexByte(item, ';'); i >= 0 {
		item = trimWS(item[:i])
	}
	for _, c := range [...]string{"chunked", "compress", "deflate", "gzip", "identity"} {
		if equalFoldASCII(item, c) {
			return c, true
		}
	}
	return "", false
}

// parseDecimal parses a Content-Length the library's way: white space
// trimmed, digits only, no overflow of 64 bits. Empty is zero.
func parseDecimal(v []byte) (uint64, bool) {
	var n uint64
	for _, b := range trimWS(v) {
		if !isDigit(b) {
			return 0, false
		}
		d := uint64(b - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// charTier is the worst character in s: bad (NUL, CR, LF), non-compliant
// (anything ok rejects), or compliant.
func charTier(s []byte, ok func(byte) bool) tier {
	t := tierCompliant
	for _, b := range s {
		if ok(b) {
			continue
		}
		if isBadByte(b) {
			return tierBad
		}
		t = tierNonCompliant
	}
	return t
}

type tier uint8

const (
	tierCompliant tier = iota
	tierNonCompliant
	tierBad
)
