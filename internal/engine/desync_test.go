package engine_test

import (
	"bufio"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDesyncMitigationModes sends an ambiguous request (both Transfer-Encoding and Content-Length) on a raw
// HTTP/1.1 connection through each mode: monitor forwards it, defensive forwards it and closes the
// connection, strictest refuses it with 400. The access log carries ALB's classification either way.
func TestDesyncMitigationModes(t *testing.T) {
	const ambiguous = "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"
	cases := []struct {
		mode      string
		status    int
		closed    bool
		reachesIt bool
	}{
		{"monitor", http.StatusOK, false, true},
		{"defensive", http.StatusOK, true, true},
		{"strictest", http.StatusBadRequest, true, false},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			f := newFixture(t)
			r := f.start(t, listenerYAML{mode: "off",
				attributes: "  desync_mitigation_mode: " + c.mode + "\n  access_logs: { enabled: true, path: access.log }"})
			conn, err := tls.Dial("tcp", r.addr, &tls.Config{RootCAs: f.root.Pool(), ServerName: "127.0.0.1"})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(boundedWait))
			br := bufio.NewReader(conn)
			// A compliant request first: it is served and classified Compliant.
			if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != http.StatusOK || resp.Close {
				t.Fatalf("compliant request: %v, %v", resp, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			before := f.backend.hits

			if _, err := io.WriteString(conn, ambiguous); err != nil {
				t.Fatal(err)
			}
			resp, err = http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("ambiguous request: %v", err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != c.status || resp.Close != c.closed {
				t.Errorf("ambiguous request: status %d, close %v; want %d, close %v", resp.StatusCode, resp.Close, c.status, c.closed)
			}
			f.backend.mu.Lock()
			reached := f.backend.hits > before
			f.backend.mu.Unlock()
			if reached != c.reachesIt {
				t.Errorf("the target was reached: %v, want %v", reached, c.reachesIt)
			}
			lines := desyncLogLines(t, filepath.Join(f.dir, "access.log"), 2)
			if !strings.Contains(lines[0], `"Compliant" "-"`) && !strings.Contains(lines[0], `"Compliant"`) {
				t.Errorf("compliant request logged %s", lines[0])
			}
			if !strings.Contains(lines[1], `"Ambiguous" "BothTeClPresent"`) {
				t.Errorf("ambiguous request logged %s", lines[1])
			}
		})
	}
}

// desyncLogLines waits until path has at least n lines and returns them.
func desyncLogLines(t testing.TB, path string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(boundedWait)
	for {
		data, _ := os.ReadFile(path)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(data) > 0 && len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d lines, want %d:\n%s", path, len(lines), n, data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRequestTimeout408: a client that starts a request and does not finish its head within the idle timeout
// gets 408 and the connection closes, logged with error_reason RequestTimeout; an idle keep-alive connection
// is closed without a word.
func TestRequestTimeout408(t *testing.T) {
	f := newFixture(t)
	r := f.start(t, listenerYAML{mode: "off", attributes: "  idle_timeout_seconds: 1\n  access_logs: { enabled: true, path: access.log }"})
	dial := func() (*tls.Conn, *bufio.Reader) {
		conn, err := tls.Dial("tcp", r.addr, &tls.Config{RootCAs: f.root.Pool(), ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		_ = conn.SetDeadline(time.Now().Add(boundedWait))
		return conn, bufio.NewReader(conn)
	}
	conn, br := dial()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: "); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
		t.Fatalf("half a request: %v, %v; want 408 and close", resp, err)
	}
	line := desyncLogLines(t, filepath.Join(f.dir, "access.log"), 1)[0]
	if !strings.Contains(line, " 408 - ") || !strings.Contains(line, `"RequestTimeout"`) || !strings.Contains(line, `"- - -"`) {
		t.Errorf("access log: %s", line)
	}

	idle, ibr := dial()
	if _, err := ibr.ReadByte(); err == nil {
		t.Error("an idle connection got bytes instead of a silent close")
	}
	_ = idle
}
