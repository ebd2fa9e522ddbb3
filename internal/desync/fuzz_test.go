package desync

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"testing"
)

func FuzzClassify(f *testing.F) {
	for _, tc := range classifyCases {
		f.Add([]byte(tc.head))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		v := Classify(head)
		if v.Class > Severe {
			t.Fatalf("Classify(%q) = class %d", head, v.Class)
		}
		if (v.Class == Compliant) != (v.Reason == "") {
			t.Fatalf("Classify(%q) = %+v: a reason exactly when not Compliant", head, v)
		}
		if again := Classify(head); again != v {
			t.Fatalf("Classify(%q) = %+v, then %+v", head, v, again)
		}
	})
}

// headSeen is one head the tracker completed: its request line split as
// net/http splits it, and its verdict.
type headSeen struct {
	methodTarget string
	v            Verdict
}

// trackHeads runs a tracker over data fed in the given pieces.
func trackHeads(data []byte, cuts []int) ([]headSeen, string) {
	var seen []headSeen
	tr := tracker{maxHead: len(data) + 1, emit: func(head []byte, v Verdict) bool {
		line, _ := readLine(head, 0)
		method, rest, _ := bytes.Cut(line, []byte{' '})
		target, _, _ := bytes.Cut(rest, []byte{' '})
		seen = append(seen, headSeen{string(method) + " " + string(target), v})
		return true
	}}
	tr.startHead()
	prev := 0
	for _, c := range cuts {
		tr.feed(data[prev:c])
		prev = c
	}
	tr.feed(data[prev:])
	return seen, tr.stopReason
}

// goRequests reads data as net/http's server does: request after request,
// each body drained, stray CR/LF dropped after a POST, until something
// fails. It returns "method target" of every request read.
func goRequests(data []byte) []string {
	var got []string
	br := bufio.NewReader(bytes.NewReader(data))
	lastPost := false
	for {
		if lastPost {
			peek, _ := br.Peek(4)
			n := 0
			for n < len(peek) && (peek[n] == '\r' || peek[n] == '\n') {
				n++
			}
			br.Discard(n)
		}
		req, err := http.ReadRequest(br)
		if err != nil {
			return got
		}
		got = append(got, req.Method+" "+req.RequestURI)
		if req.ProtoMajor != 1 {
			return got // the server stops serving the connection
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return got
		}
		lastPost = req.Method == "POST"
	}
}

// agreementStreams are streams whose framing takes care to get right, with
// how many requests net/http reads from each.
var agreementStreams = []struct {
	name     string
	stream   string
	requests int
}{
	{"upper-case chunk size", "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n", 2},
	{"white space after chunk size", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\t \r\nabc\r\n0 \r\n\r\nGET /b HTTP/1.1\r\n\r\n", 2},
	{"chunk extension", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\"b c\";d\r\nabc\r\n0;e\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 2},
	{"sixteen-digit chunk size", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0000000000000002\r\nab\r\n0000000000000000\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 2},
	{"trailer", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: GET /x HTTP/1.1\r\nY: z\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 2},
	{"folded trailer", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n \r\n\tb\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 2},
	{"trailer ended by bare LF", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\n\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n", 2},
	{"no trailer, bare LF", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n", 2},
	{"chunked in capitals", "PUT /a HTTP/1.1\r\nTRANSFER-ENCODING: CHUNKED\r\n\r\n1\r\nx\r\n0\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 2},
	{"folded Transfer-Encoding", "PUT /a HTTP/1.1\r\nTransfer-Encoding:\r\n chunked\r\n\r\n1\r\nx\r\n0\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 2},
	{"folded Content-Length", "PUT /a HTTP/1.1\r\nContent-Length:\r\n\t 3\r\n\r\nabcGET /b HTTP/1.1\r\n\r\n", 2},
	{"leading zeros in Content-Length", "PUT /a HTTP/1.1\r\nContent-Length: 0003\r\n\r\nabcGET /b HTTP/1.1\r\n\r\n", 2},
	{"duplicate Content-Length", "PUT /a HTTP/1.1\r\nContent-Length: 3\r\ncontent-length:3 \r\n\r\nabcGET /b HTTP/1.1\r\n\r\n", 2},
	{"Content-Length beside chunked", "PUT /a HTTP/1.1\r\nContent-Length: 30\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 2},
	{"HTTP/1.0 ignores Transfer-Encoding", "POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\nGET /b HTTP/1.1\r\n\r\n", 2},
	{"HTTP/1.5 honours Transfer-Encoding", "POST /a HTTP/1.5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 2},
	{"GET and HEAD bodies", "GET /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcHEAD /b HTTP/1.1\r\nContent-Length: 1\r\n\r\nxGET /c HTTP/1.1\r\n\r\n", 3},
	{"line ends dropped after POST", "POST /a HTTP/1.1\r\n\r\n\n\r\n\rGET /b HTTP/1.1\r\n\r\n", 2},
	{"too many line ends after POST", "POST /a HTTP/1.1\r\n\r\n\r\n\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 1},
	{"line ends after GET", "GET /a HTTP/1.1\r\n\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 1},
	{"bare LF heads", "POST /a HTTP/1.1\nContent-Length: 2\n\nxyGET /b HTTP/1.1\n\n", 2},
	{"CR before the blank line's LF", "GET /a HTTP/1.1\r\nX: y\r\n\r\nGET /b HTTP/1.1\n\r\n", 2},
	{"space-named header is not Content-Length", "GET /a HTTP/1.1\r\nContent-Length : 5\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 2},
	{"Transfer-Encoding folded into a space", "PUT /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n \r\n\r\n0\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 0},
}

func TestTrackerAgreesWithNetHTTP(t *testing.T) {
	for _, tc := range agreementStreams {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.stream)
			want := goRequests(data)
			if len(want) != tc.requests {
				t.Fatalf("net/http reads %d requests %q, the test expects %d", len(want), want, tc.requests)
			}
			got, stop := trackHeads(data, nil)
			if len(got) < len(want) {
				t.Fatalf("tracker found %+v (stop %q), net/http reads %q", got, stop, want)
			}
			for i := range want {
				if got[i].methodTarget != want[i] {
					t.Errorf("request %d: tracker found %q, net/http reads %q", i, got[i].methodTarget, want[i])
				}
			}
		})
	}
}

// FuzzConn feeds random streams in random pieces. The tracker must not
// panic, must find the same heads however the stream is cut, and must find
// every request net/http reads, in the same order, before it finds
// anything else: a head found where net/http sees body, or missed where
// net/http sees a request, is exactly the desync Conn exists to prevent.
func FuzzConn(f *testing.F) {
	f.Add(smugglingStream(f).stream, uint64(7))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n"), uint64(1))
	f.Add([]byte("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n0\r\nT: 1\r\n\r\n\r\nGET /b HTTP/1.0\r\n\r\n"), uint64(2))
	f.Add([]byte("GET / HTTP/1.1\r\nContent-Length:\r\n 3\r\n\r\nabcGET /c HTTP/1.1\r\n\r\n"), uint64(3))
	f.Add([]byte("PUT / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length:  2 \r\n\r\nxyGET / HTTP/1.1\n\n"), uint64(4))
	for i, tc := range agreementStreams {
		f.Add([]byte(tc.stream), uint64(i))
	}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		whole, wholeStop := trackHeads(data, nil)

		rng := rand.New(rand.NewPCG(seed, seed>>32))
		var cuts []int
		for c := 0; len(data) > 0; {
			c += 1 + rng.IntN(len(data))
			if c >= len(data) {
				break
			}
			cuts = append(cuts, c)
		}
		split, splitStop := trackHeads(data, cuts)
		if len(split) != len(whole) || splitStop != wholeStop {
			t.Fatalf("cut at %v: %d heads (stop %q), whole: %d heads (stop %q)", cuts, len(split), splitStop, len(whole), wholeStop)
		}
		for i := range whole {
			if split[i] != whole[i] {
				t.Fatalf("cut at %v: head %d is %+v, whole: %+v", cuts, i, split[i], whole[i])
			}
		}

		want := goRequests(data)
		if len(whole) < len(want) {
			t.Fatalf("net/http reads %d requests %q, the tracker found %d heads %+v (stop %q)", len(want), want, len(whole), whole, wholeStop)
		}
		for i, mt := range want {
			if whole[i].methodTarget != mt {
				t.Fatalf("request %d: net/http reads %q, the tracker found %q; all: %q vs %+v", i, mt, whole[i].methodTarget, want, whole)
			}
		}
	})
}
