package desync

import "bytes"

// This file splits a raw head the way the library's raw-request parser
// does, leniently and without copying, so that Classify judges the same
// method, target, version and (name, value) pairs ALB judges. The split is
// deliberately not net/http's: where they differ, the library's view is the
// one that decides the class. framing.go has net/http's view.

// requestLine is the library's split of the first line.
type requestLine struct {
	method, uri, version []byte
	headersAt            int // offset of the first header line
}

// parseRequestLine splits the first line of head: the method runs to the
// first space; the version is the last space-separated word, trailing
// non-token bytes included; the target is what lies between. A line
// without a version is HTTP/0.9. Findings go to st.
func parseRequestLine(head []byte, st *verdictState) requestLine {
	le := bytes.IndexByte(head, '\n')
	if le < 0 {
		le = len(head)
	}
	rl := requestLine{headersAt: le + 1}
	if le > 0 && head[le-1] == '\r' {
		le--
	} else {
		st.upgrade(Acceptable, ReasonNonCrLfLineTermination)
	}
	line := head[:le]

	// The method is everything before the first space; with no space the
	// whole line is the method and nothing is left for the rest.
	pos, end := len(line)+1, len(line)
	if sp := bytes.IndexByte(line, ' '); sp >= 0 {
		pos = sp + 1
		rl.method = line[:sp]
	} else {
		rl.method = line
	}

	// The version is found from the right. Trailing non-token bytes are
	// skipped before the space that ends the search counts, so that
	// "HTTP/1.1 \t" keeps its white space and is judged for it.
	vPos, vEnd := 1, 0 // empty and "partial": nothing was left to search
	if end > pos {
		cur := end - 1
		skipping := true
		for pos < cur && (line[cur] != ' ' || skipping) {
			skipping = skipping && !isTchar(line[cur])
			cur--
		}
		vPos, vEnd = cur, end
		if line[cur] == ' ' {
			vPos = cur + 1
		}
		end = vPos - 1
	}
	version := window(line, vPos, vEnd)
	uriPartial := pos > end
	uriDone := pos >= end
	switch {
	case uriPartial && bytes.HasPrefix(version, []byte("HTTP/1.")), vPos >= vEnd && uriDone:
		st.upgrade(Ambiguous, ReasonMissingURI)
		rl.uri, rl.version = window(line, pos, end), version
	case uriPartial:
		// One word after the method: a target and no version.
		rl.uri = version
	default:
		rl.uri, rl.version = window(line, pos, end), version
	}
	return rl
}

// window is buf[pos:end], or nothing when the window is empty or inverted.
func window(buf []byte, pos, end int) []byte {
	if pos < end {
		return buf[pos:end]
	}
	return nil
}

// headerScanner walks the header lines of a head as the library does. An
// obs-fold line that carries no colon, or that follows Content-Type, is a
// further value of the header before it; any other line that starts with
// white space is a header of its own whose name starts with that white
// space, so " Transfer-Encoding: chunked" is judged as a look-alike.
type headerScanner struct {
	buf      []byte
	pos, end int

	prevName  []byte // the last name seen on a line that was not folded
	havePrev  bool
	mediaType bool // prevName is Content-Type, whose folding is tolerated
	finished  bool

	// The current header and what was found on its line.
	name, value  []byte
	noCR         bool // line ended in a bare LF or not at all
	missingColon bool
	folded       bool // an obs-fold line outside Content-Type
	partialLine  bool // the head ended inside this line
	missingBlank bool // the head ended right after this line

	blankNoCR bool // the blank line that ended the head was a bare LF
}

// next advances to the next header. It returns false at the end of the
// head; blankNoCR then tells how the blank line ended.
func (s *headerScanner) next() bool {
	if s.finished {
		return false
	}
	ls, le := s.pos, s.pos
	if ls < s.end {
		if i := bytes.IndexByte(s.buf[ls:s.end], '\n'); i >= 0 {
			le = ls + i
		} else {
			le = s.end
		}
	}
	s.pos = le + 1
	s.noCR = !(le > ls && s.buf[le-1] == '\r')
	if !s.noCR {
		le--
	}
	if ls >= le {
		s.finished = true
		s.blankNoCR = s.noCR
		return false
	}

	line := s.buf[ls:le]
	continuation := line[0] == ' ' || line[0] == '\t'
	colon := bytes.IndexByte(line, ':')
	first := line
	if colon >= 0 {
		first = line[:colon]
	}
	if !continuation && colon >= 0 {
		s.mediaType = equalFoldASCII(first, "content-type")
		s.prevName, s.havePrev = first, true
	}
	switch {
	case continuation && s.havePrev && (s.mediaType || colon < 0):
		s.name, s.value = s.prevName, first
	case colon >= 0:
		s.name, s.value = first, line[colon+1:]
	default:
		s.name, s.value = first, nil
	}
	s.missingColon = !continuation && colon < 0
	s.folded = continuation && !s.mediaType
	s.partialLine = s.pos > s.end
	s.missingBlank = s.pos == s.end
	if s.partialLine || s.missingBlank {
		s.finished = true
	}
	return true
}

// Body-framing header names, lower case as similarity requires.
const (
	nameTE = "transfer-encoding"
	nameCL = "content-length"
)

// likeness is how close a header name is to an important one.
type likeness uint8

const (
	identical   likeness = iota // equal, ignoring case
	sameLetters                 // equal once delimiters, white space and case are ignored
	distant
)

// similarity compares name with important (lower-case letters and '-') the
// library's way: letters must match in order, ignoring case, white space
// and control bytes after a letter, and any run of non-alphanumerics where
// important has '-'. Two UTF-8 letters that upper-case to ASCII ('ſ' to
// 'S', 'ı' to 'I') count as the letter they become. A name that matches and
// then goes on past white space ("Transfer-Encoding x") is a look-alike too,
// as the library's test suite has it: a parser that stops a name at white
// space sees the real thing.
func similarity(important string, name []byte) likeness {
	if len(name) < len(important) {
		return distant
	}
	i := nextAlnum(name, 0)
	same := i == 0 && len(important) == len(name)
	matched, lastEnd := true, 0
	for k := 0; k < len(important); k++ {
		if i == len(name) {
			return distant
		}
		c := important[k]
		delimiter := c == '-'
		ok, ni := sameChar(c, name, i)
		if !ok {
			if !delimiter {
				matched = false
				break
			}
			same = false
		}
		if delimiter {
			i = nextAlnum(name, ni)
		} else {
			i, lastEnd = nextAboveSpace(name, ni), ni
		}
	}
	switch {
	case i == len(name) && same:
		return identical
	case i == len(name) || nextAlnum(name, i) == len(name):
		return sameLetters
	case matched && i > lastEnd:
		return sameLetters
	}
	return distant
}

// sameChar reports whether name[i:] starts with the character c and where
// that character ends.
func sameChar(c byte, name []byte, i int) (bool, int) {
	b := name[i]
	if 'A' <= b && b <= 'Z' {
		b += 'a' - 'A'
	}
	if c == b {
		return true, i + 1
	}
	if i+1 < len(name) {
		switch {
		case c == 's' && name[i] == 0xc5 && name[i+1] == 0xbf, // ſ
			c == 'i' && name[i] == 0xc4 && name[i+1] == 0xb1: // ı
			return true, i + 2
		}
	}
	return false, i + 1
}

func nextAlnum(s []byte, i int) int {
	for i < len(s) && !isAlnum(s[i]) {
		i++
	}
	return i
}

func nextAboveSpace(s []byte, i int) int {
	for i < len(s) && s[i] <= ' ' {
		i++
	}
	return i
}

// Byte classes. The masks are constants, computed by the compiler, one bit
// per ASCII byte; bytes from 0x80 are in none of them.
const (
	maskDigit = (1<<10 - 1) << '0'
	maskAlpha = (1<<26-1)<<'a' | (1<<26-1)<<'A'
	maskTchar = maskDigit | maskAlpha | 1<<'!' | 1<<'#' | 1<<'$' | 1<<'%' |
		1<<'&' | 1<<'\'' | 1<<'*' | 1<<'+' | 1<<'-' | 1<<'.' | 1<<'^' |
		1<<'_' | 1<<'`' | 1<<'|' | 1<<'~'
)

func inMask(b byte, mask uint64, maskHigh uint64) bool {
	if b < 64 {
		return mask&(1<<b) != 0
	}
	if b < 128 {
		return maskHigh&(1<<(b-64)) != 0
	}
	return false
}

// isTchar reports whether b may appear in a token (RFC 7230 tchar).
func isTchar(b byte) bool {
	return inMask(b, maskTchar&(1<<64-1), maskTchar>>64)
}

func isAlnum(b byte) bool {
	return inMask(b, (maskDigit|maskAlpha)&(1<<64-1), (maskDigit|maskAlpha)>>64)
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// isBadByte reports the bytes no header or target may contain at all: they
// can only get there through a parser bug or an attack.
func isBadByte(b byte) bool { return b == '\r' || b == '\n' || b == 0 }

// isHeaderValueByte reports field-vchar, obs-text and white space.
func isHeaderValueByte(b byte) bool {
	return b == '\t' || (' ' <= b && b < 0x7f) || b >= 0x80
}

// trimWS trims RFC 7230 white space (SP, HTAB) from both ends.
func trimWS(s []byte) []byte {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// equalFoldASCII compares s with lower-case ASCII t, ignoring case.
func equalFoldASCII(s []byte, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := range len(s) {
		b := s[i]
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if b != t[i] {
			return false
		}
	}
	return true
}
