package httpproxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// errHead marks a failure to read a response's head in readAll, as opposed to its body or trailers.
var errHead = errors.New("head")

// readAll reads a whole response as the direct path does: head, body and trailers, from br.
func readAll(br *bufio.Reader, method string) (head *responseHead, body []byte, trailers []field, err error) {
	head = getResponseHead()
	if err := head.read(br, method); err != nil {
		return head, nil, nil, fmt.Errorf("%w: %w", errHead, err)
	}
	b := head.body(br)
	body, err = io.ReadAll(&b)
	if err != nil {
		return head, body, nil, err
	}
	if head.chunked {
		fields := slices.Clone(head.fields)
		if err := head.readTrailers(br); err != nil {
			return head, body, nil, err
		}
		trailers = slices.Clone(head.fields)
		head.fields = fields
	}
	return head, body, trailers, nil
}

func TestResponseHeadFraming(t *testing.T) {
	for _, tc := range []struct {
		name, in, method string
		status           int
		length           int64
		chunked, close   bool
		body             string
		fields           string // name=value pairs, joined by "|"
		trailers         string
		rest             string // what the next exchange on the connection would read
	}{
		{name: "content length", in: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\n\r\nokNEXT",
			status: 200, length: 2, body: "ok", fields: "Content-Length=2|X-A=1", rest: "NEXT"},
		{name: "no reason, bare LF", in: "HTTP/1.1 204\nX-A:  spaced \t\n\nNEXT",
			status: 204, fields: "X-A=spaced", rest: "NEXT"},
		{name: "identical lengths count once", in: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-length:3 \r\n\r\nabc",
			status: 200, length: 3, body: "abc", fields: "Content-Length=3"},
		{name: "chunked with trailers", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-sum, X-Sum\r\n\r\n" +
			"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Sum: 5\r\n\r\nNEXT",
			status: 200, length: -1, chunked: true, body: "abcde", fields: "Trailer=x-sum, X-Sum", trailers: "X-Sum=5", rest: "NEXT"},
		{name: "chunked overrides length and ends reuse", in: "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: CHUNKED\r\n\r\n1\r\na\r\n0\r\n\r\n",
			status: 200, length: -1, chunked: true, close: true, body: "a"},
		{name: "until close", in: "HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nall of it",
			status: 200, length: -1, close: true, body: "all of it", fields: "X-A=1"},
		{name: "HTTP/1.0 closes", in: "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nxNEXT",
			status: 200, length: 1, close: true, body: "x", fields: "Content-Length=1", rest: "NEXT"},
		{name: "HTTP/1.0 keep-alive", in: "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx",
			status: 200, length: 1, body: "x", fields: "Connection=Keep-Alive|Content-Length=1"},
		{name: "HTTP/1.0 ignores Transfer-Encoding and closes", in: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\nx",
			status: 200, length: 1, close: true, body: "x", fields: "Connection=keep-alive|Content-Length=1"},
		{name: "close token", in: "HTTP/1.1 200 OK\r\nConnection: foo, CLOSE\r\nContent-Length: 0\r\n\r\n",
			status: 200, close: true, fields: "Connection=foo, CLOSE|Content-Length=0"},
		{name: "HEAD has no body", method: http.MethodHead, in: "HTTP/1.1 200 OK\r\nContent-Length: 42\r\nTransfer-Encoding: chunked\r\n\r\nNEXT",
			status: 200, fields: "Content-Length=42", rest: "NEXT"},
		{name: "304 has no body", in: "HTTP/1.1 304 Not Modified\r\nContent-Length: 42\r\n\r\nNEXT",
			status: 304, fields: "Content-Length=42", rest: "NEXT"},
		{name: "informational skipped", in: "HTTP/1.1 100 Continue\r\n\r\n" + strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", 4) + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
			status: 200, fields: "Content-Length=0"},
		{name: "names canonical", in: "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nx-WEIRD-name: 1\r\nX_U: 2\r\nContent-Length: 0\r\n\r\n",
			status: 200, fields: "Content-Type=text/plain|X-Weird-Name=1|X_u=2|Content-Length=0"},
		{name: "obs-text kept", in: "HTTP/1.1 200 \xc3\xa9\r\nX-A: caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n",
			status: 200, fields: "X-A=caf\xc3\xa9|Content-Length=0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			br := bufio.NewReaderSize(strings.NewReader(tc.in), 16)
			head, body, trailers, err := readAll(br, method)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if head.status != tc.status || head.length != tc.length || head.chunked != tc.chunked || head.close != tc.close {
				t.Errorf("status %d length %d chunked %v close %v; want %d %d %v %v",
					head.status, head.length, head.chunked, head.close, tc.status, tc.length, tc.chunked, tc.close)
			}
			if string(body) != tc.body {
				t.Errorf("body %q, want %q", body, tc.body)
			}
			if got := joinFields(head.fields); got != tc.fields {
				t.Errorf("fields %q, want %q", got, tc.fields)
			}
			if got := joinFields(trailers); got != tc.trailers {
				t.Errorf("trailers %q, want %q", got, tc.trailers)
			}
			if rest, _ := io.ReadAll(br); !tc.close && string(rest) != tc.rest {
				t.Errorf("left %q for the next exchange, want %q", rest, tc.rest)
			}
		})
	}
}

func joinFields(fs []field) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.name+"="+f.value)
	}
	return strings.Join(s, "|")
}

func TestResponseHeadRefused(t *testing.T) {
	long := "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Filler: "+strings.Repeat("a", 1000)+"\r\n", 70) + "\r\n"
	for _, tc := range []struct{ name, in, want string }{
		{"not HTTP", "garbage\r\n\r\n", `malformed status line "garbage"`},
		{"HTTP/2 in text", "HTTP/2.0 200 OK\r\n\r\n", "malformed status line"},
		{"HTTP/0.9", "HTTP/0.9 200 OK\r\n\r\n", "malformed status line"},
		{"two spaces", "HTTP/1.1  200 OK\r\n\r\n", "malformed status"},
		{"status under 100", "HTTP/1.1 099 Low\r\n\r\n", "malformed status code"},
		{"status of two digits", "HTTP/1.1 20 OK\r\n\r\n", "malformed status"},
		{"status with a sign", "HTTP/1.1 +20 OK\r\n\r\n", "malformed status code"},
		{"status glued to reason", "HTTP/1.1 200OK\r\n\r\n", "malformed status line"},
		{"control in reason", "HTTP/1.1 200 O\x00K\r\n\r\n", "control character in the status line"},
		{"switching protocols", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", "switched protocols"},
		{"folding", "HTTP/1.1 200 OK\r\nX-A: 1\r\n  continued\r\n\r\n", `obsolete line folding at "  continued"`},
		{"no colon", "HTTP/1.1 200 OK\r\nX-A 1\r\n\r\n", `malformed field line "X-A 1"`},
		{"space before colon", "HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n", "malformed field line"},
		{"empty name", "HTTP/1.1 200 OK\r\n: 1\r\n\r\n", "malformed field line"},
		{"bare CR in value", "HTTP/1.1 200 OK\r\nX-A: 1\r2\r\n\r\n", "control character in the field line"},
		{"NUL in value", "HTTP/1.1 200 OK\r\nX-A: 1\x002\r\n\r\n", "control character"},
		{"different lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", `Content-Length "1" and "2"`},
		{"negative length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", `bad Content-Length "-1"`},
		{"length list", "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\n", "bad Content-Length"},
		{"huge length", "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n", "bad Content-Length"},
		{"empty length", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", `bad Content-Length ""`},
		{"gzip coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", `unsupported Transfer-Encoding "gzip, chunked"`},
		{"two codings fields", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", "2 Transfer-Encoding fields"},
		{"bad trailer name", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: a b\r\n\r\n", `bad name "a b" in Trailer`},
		{"forbidden trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: content-length\r\n\r\n", "Trailer announces Content-Length"},
		{"head too large", long, "head larger than 64 KiB"},
		{"cut head", "HTTP/1.1 200 OK\r\nX-A: 1\r\n", io.ErrUnexpectedEOF.Error()},
		{"nothing", "", io.ErrUnexpectedEOF.Error()},
		{"empty line first", "\r\nHTTP/1.1 200 OK\r\n\r\n", "malformed status line"},
		{"endless hints", strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", 6) + "HTTP/1.1 200 OK\r\n\r\n", "more than 5 informational responses"},
		{"bad informational", "HTTP/1.1 100 Continue\r\nX A: 1\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", "malformed field line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			head := getResponseHead()
			defer putResponseHead(head)
			err := head.read(bufio.NewReaderSize(strings.NewReader(tc.in), 64), http.MethodGet)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("read %q: %v; want an error saying %q", tc.in, err, tc.want)
			}
			var re *responseError
			if !errors.As(err, &re) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("%v is neither a responseError nor a cut response", err)
			}
		})
	}
}

func TestResponseBodyRefused(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"short", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc"},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"},
		{"chunk cut", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"},
		{"no last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n"},
		{"trailer cut", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-A: 1\r\n"},
		{"trailer folded", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-A: 1\r\n 2\r\n\r\n"},
		{"trailer too large", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + strings.Repeat("X-A: "+strings.Repeat("b", 1000)+"\r\n", 70) + "\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			head, _, _, err := readAll(bufio.NewReader(strings.NewReader(tc.in)), http.MethodGet)
			defer putResponseHead(head)
			if err == nil {
				t.Fatalf("read %q without an error", tc.in)
			}
		})
	}
}

// FuzzResponseHead reads the fuzzer's bytes as a target's response both with the direct path's reader and
// with http.ReadResponse. The reader may refuse what net/http takes (it is stricter on purpose), but what it
// takes, net/http must take alike: same status, same fields once hop-by-hop ones are gone, same body and
// trailers, and, when neither closes the connection, the same bytes left for the next exchange. A
// difference there is a response that a proxy and its target could frame two ways.
func FuzzResponseHead(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\nrest",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nab",
		"HTTP/1.1 200 OK\r\nConnection: X-A, close\r\nX-A: 1\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\nx-a: b\n\nuntil close",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		method := http.MethodGet
		if head {
			method = http.MethodHead
		}
		ours := bufio.NewReaderSize(bytes.NewReader(data), 16)
		h, body, trailers, err := readAll(ours, method)
		defer putResponseHead(h)
		if err != nil {
			// A head is refused as the target's fault or as cut short; a body's errors are the chunked
			// decoder's (net/http's own) or a cut.
			var re *responseError
			if errors.Is(err, errHead) && !errors.As(err, &re) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("unexpected kind of error reading the head: %v", err)
			}
			return
		}
		if h.status < 200 || h.status > 999 || h.status == http.StatusSwitchingProtocols {
			t.Fatalf("took status %d", h.status)
		}

		theirs := bufio.NewReader(bytes.NewReader(data))
		req := &http.Request{Method: method}
		var resp *http.Response
		for {
			resp, err = http.ReadResponse(theirs, req)
			if err != nil {
				t.Fatalf("took %q, which http.ReadResponse refuses: %v", data, err)
			}
			if resp.StatusCode >= 200 {
				break
			}
		}
		theirBody, err := io.ReadAll(resp.Body)
		if err != nil {
			if bytes.Contains(data, []byte("\n\n")) || bytes.Contains(data, []byte("\n")) && strings.Contains(err.Error(), "suspiciously long trailer") {
				return // net/http wants CRLF before a trailer section; the reader takes a bare LF there as in heads
			}
			t.Fatalf("took %q, whose body http.ReadResponse cannot read: %v", data, err)
		}
		if resp.StatusCode != h.status {
			t.Fatalf("status %d, net/http %d", h.status, resp.StatusCode)
		}
		if !bytes.Equal(body, theirBody) {
			t.Fatalf("body %q, net/http %q", body, theirBody)
		}
		// net/http deletes a Connection field that says close, and with it the names it lists: those come from
		// the reader's own copy of the field.
		want := resp.Header.Clone()
		want["Connection"] = h.connection
		removeHopByHopForTest(want)
		got := http.Header{}
		for _, f := range h.fields {
			if !h.hopByHop(f.name) {
				got[f.name] = append(got[f.name], f.value)
			}
		}
		if !equalHeaders(got, want) {
			t.Fatalf("fields %q, net/http %q", got, want)
		}
		if h.chunked {
			announced := map[string]bool{}
			for _, n := range h.trailers {
				announced[n] = true
			}
			for k := range resp.Trailer {
				if !announced[k] && resp.Trailer[k] == nil {
					t.Fatalf("trailer %q announced for net/http only", k)
				}
			}
			gotT := http.Header{}
			for _, f := range trailers {
				gotT[f.name] = append(gotT[f.name], f.value)
			}
			wantT := http.Header{}
			for k, v := range resp.Trailer {
				if v != nil {
					wantT[k] = v
				}
			}
			if !equalHeaders(gotT, wantT) {
				t.Fatalf("trailers %q, net/http %q", gotT, wantT)
			}
		}
		if h.close {
			return
		}
		if resp.Close {
			t.Fatalf("keeps a connection net/http would close")
		}
		rest, _ := io.ReadAll(ours)
		theirRest, _ := io.ReadAll(theirs)
		if !bytes.Equal(rest, theirRest) {
			t.Fatalf("leaves %q for the next exchange, net/http %q", rest, theirRest)
		}
	})
}

func removeHopByHopForTest(hdr http.Header) {
	for _, f := range hdr["Connection"] {
		for name := range strings.SplitSeq(f, ",") {
			if name = strings.TrimSpace(name); name != "" {
				hdr.Del(name)
			}
		}
	}
	for _, k := range hopByHop {
		delete(hdr, k)
	}
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
