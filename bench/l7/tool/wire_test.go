package main

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		status    int
		closeConn bool
		rest      string // what must be left unread: the next response
		wantErr   string
	}{
		{name: "content length", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloNEXT", status: 200, rest: "NEXT"},
		{name: "chunked with trailer", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\nNEXT", status: 200, rest: "NEXT"},
		{name: "connection close", in: "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", status: 503, closeConn: true},
		{name: "http 1.0 closes", in: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", status: 200, closeConn: true},
		{name: "http 1.0 keep-alive", in: "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nokNEXT", status: 200, rest: "NEXT"},
		{name: "no length reads to close", in: "HTTP/1.1 200 OK\r\n\r\nbody until the end", status: 200, closeConn: true},
		{name: "204 has no body", in: "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\nNEXT", status: 204, rest: "NEXT"},
		{name: "bare LF lines", in: "HTTP/1.1 404 Not Found\nContent-Length: 1\n\nxNEXT", status: 404, rest: "NEXT"},
		{name: "status without reason", in: "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", status: 200},
		{name: "empty", in: "", wantErr: "read status line: EOF"},
		{name: "bad protocol", in: "HTTP/2 200 OK\r\n\r\n", wantErr: "unsupported protocol"},
		{name: "bad status", in: "HTTP/1.1 2x0 OK\r\n\r\n", wantErr: "malformed status code"},
		{name: "long status", in: "HTTP/1.1 2000 OK\r\n\r\n", wantErr: "malformed status code"},
		{name: "bad length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", wantErr: "malformed Content-Length"},
		{name: "huge length", in: "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", wantErr: "malformed Content-Length"},
		{name: "conflicting lengths", in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", wantErr: "conflicting"},
		{name: "gzip coding", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", wantErr: "unsupported Transfer-Encoding"},
		{name: "bad chunk size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", wantErr: "malformed chunk size"},
		{name: "chunk without CRLF", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n0\r\n\r\n", wantErr: "not followed by CRLF"},
		{name: "truncated headers", in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n", wantErr: "unexpected EOF"},
		{name: "truncated body", in: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", wantErr: "read body"},
		{name: "header without colon", in: "HTTP/1.1 200 OK\r\nnocolon\r\n\r\n", wantErr: "malformed header line"},
		{name: "line too long", in: "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 5000) + "\r\n\r\n", wantErr: "line too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tt.in), 4096)
			status, closeConn, err := readResponse(br)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("readResponse error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("readResponse: %v", err)
			}
			if status != tt.status || closeConn != tt.closeConn {
				t.Errorf("readResponse = (%d, close %t), want (%d, close %t)", status, closeConn, tt.status, tt.closeConn)
			}
			rest, _ := io.ReadAll(br)
			if string(rest) != tt.rest {
				t.Errorf("left unread %q, want %q", rest, tt.rest)
			}
		})
	}
}

func TestReadRequest(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     request
		wantHead string
		rest     string
		wantErr  string
	}{
		{name: "get", in: "GET /svc1/x HTTP/1.1\r\nHost: a\r\n\r\nNEXT", rest: "NEXT"},
		{name: "close", in: "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", want: request{close: true}},
		{name: "http 1.0", in: "GET / HTTP/1.0\r\n\r\n", want: request{close: true}},
		{name: "post body skipped", in: "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcNEXT", rest: "NEXT"},
		{name: "chunked body skipped", in: "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nNEXT", rest: "NEXT"},
		{name: "echo copies the head", in: "GET /svc0/__echo HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\r\n", want: request{echo: true},
			wantHead: "GET /svc0/__echo HTTP/1.1\nHost: a\nX-A: b\n"},
		{name: "between requests", in: "", wantErr: "EOF"},
		{name: "no target", in: "GET HTTP/1.1\r\n\r\n", wantErr: "malformed request line"},
		{name: "bad protocol", in: "GET / SPDY/3\r\n\r\n", wantErr: "unsupported protocol"},
		{name: "truncated body", in: "POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nab", wantErr: "read request body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tt.in), 4096)
			var head bytes.Buffer
			got, err := readRequest(br, &head)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("readRequest error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("readRequest: %v", err)
			}
			if got != tt.want {
				t.Errorf("readRequest = %+v, want %+v", got, tt.want)
			}
			if head.String() != tt.wantHead {
				t.Errorf("head = %q, want %q", head.String(), tt.wantHead)
			}
			rest, _ := io.ReadAll(br)
			if string(rest) != tt.rest {
				t.Errorf("left unread %q, want %q", rest, tt.rest)
			}
		})
	}
}

// The load generator's and the target's request loops must not allocate: on two cores their garbage would be
// collected on the proxy's time.
func TestWireDoesNotAllocate(t *testing.T) {
	resp := newTargetResponses(200).keepAlive
	req := []byte("GET /svc42/x HTTP/1.1\r\nHost: 127.0.0.1:8443\r\nUser-Agent: x\r\n\r\n")
	var src bytes.Reader
	br := bufio.NewReaderSize(&src, 16<<10)
	if n := testing.AllocsPerRun(1000, func() {
		src.Reset(resp)
		br.Reset(&src)
		if _, _, err := readResponse(br); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("readResponse allocates %.1f times per response, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() {
		src.Reset(req)
		br.Reset(&src)
		if _, err := readRequest(br, nil); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("readRequest allocates %.1f times per request, want 0", n)
	}
}

func FuzzReadResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 304 Not Modified\r\nConnection: keep-alive, close\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(in), 4096)
		for range 4 { // a few responses in a row, as on a keep-alive connection
			status, closeConn, err := readResponse(br)
			if err != nil || closeConn {
				return
			}
			if status < 0 || status > 999 {
				t.Fatalf("status %d out of range", status)
			}
		}
	})
}

func FuzzReadRequest(f *testing.F) {
	f.Add([]byte("GET /svc0/x HTTP/1.1\r\nHost: a\r\n\r\n"))
	f.Add([]byte("POST /svc0/__echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(in), 4096)
		var head bytes.Buffer
		for range 4 {
			head.Reset()
			r, err := readRequest(br, &head)
			if err != nil || r.close {
				return
			}
			if !r.echo && head.Len() != 0 {
				t.Fatalf("head copied for a request that is not an echo: %q", head.String())
			}
		}
	})
}
