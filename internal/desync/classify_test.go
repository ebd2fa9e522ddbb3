package desync

import (
	"strings"
	"testing"
)

// classifyCases pair raw heads with ALB's verdict. The expectations are the
// behaviour http-desync-guardian documents and tests for each situation;
// the heads are written here.
var classifyCases = []struct {
	name string
	head string
	want Verdict
}{
	// Compliant.
	{"browser GET", "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: text/html,*/*;q=0.8\r\nAccept-Encoding: gzip, deflate\r\n\r\n", Verdict{}},
	{"POST with Content-Length", "POST /form HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 11\r\n\r\n", Verdict{}},
	{"POST chunked", "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", Verdict{}},
	{"chunked with parameter and odd case", "PUT /up HTTP/1.1\r\nHost: a\r\ntransfer-encoding: Chunked ; x=1\r\n\r\n", Verdict{}},
	{"gzip then chunked", "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Verdict{}},
	{"HTTP/1.0 with Content-Length", "POST /x HTTP/1.0\r\nContent-Length: 3\r\n\r\n", Verdict{}},
	{"folded Content-Type is tolerated", "GET /foo/bar HTTP/1.1\r\nConnection: close\r\nContent-Type: application/json;\r\n plain-text;\r\nUser-Agent:test\r\n\r\n", Verdict{}},
	{"escaped control bytes in target", "GET /path-%0D-%0A-%09-%20 HTTP/1.1\r\nHost: a\r\n\r\n", Verdict{}},
	{"obs-text in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xc3\xa9\r\n\r\n", Verdict{}},
	{"no headers", "GET / HTTP/1.1\r\n\r\n", Verdict{}},
	{"HTTP/2 preface is out of scope", "PRI * HTTP/2.0\r\n\r\n", Verdict{}},
	{"HTTP/2 out of scope whatever its headers", "POST / HTTP/2.0\r\nTransfer-Encoding : chunked\r\nContent-Length: 1\r\n\r\n", Verdict{}},

	// Acceptable.
	{"space before colon in a custom header", "PUT /foo/bar HTTP/1.1\r\nx-my-custom-header : some value\r\nContent-Length: 10\r\n\r\n", Verdict{Acceptable, ReasonNonCompliantHeader}},
	{"control byte in a custom value", "POST /foo/bar HTTP/1.1\r\nSome-Custom-Header: \x01value\r\nTransfer-Encoding: chunked\r\n\r\n", Verdict{Acceptable, ReasonNonCompliantHeader}},
	{"DEL in a custom name", "GET / HTTP/1.1\r\nX-A\x7f: v\r\n\r\n", Verdict{Acceptable, ReasonNonCompliantHeader}},
	{"HTTP/1.2", "GET /foo/bar HTTP/1.2\r\nX-My-Header: some value\r\n\r\n", Verdict{Acceptable, ReasonNonCompliantVersion}},
	{"no version is HTTP/0.9", "GET /foo/bar\r\nX-My-Header: some value\r\n\r\n", Verdict{Acceptable, ReasonNonCompliantVersion}},
	{"explicit HTTP/0.9", "GET /foo/bar HTTP/0.9\r\n\r\n", Verdict{Acceptable, ReasonNonCompliantVersion}},
	{"white space after the version", "GET /endpoint_a HTTP/1.1 \r\nX-Forwarded-For: 1.1.1.1\r\n\r\n", Verdict{Acceptable, ReasonNonCompliantVersion}},
	{"space in the target", "GET /foo/bar?foo=A new request HTTP/1.1\r\nHost: localhost\r\n\r\n", Verdict{Acceptable, ReasonSpaceInURI}},
	{"GET with Content-Length 0", "GET /foo/bar HTTP/1.1\r\nContent-Length: 0\r\n\r\n", Verdict{Acceptable, ReasonGetHeadZeroContentLength}},
	{"HEAD with Content-Length 0", "HEAD /foo/bar HTTP/1.1\r\nContent-Length: 0\r\n\r\n", Verdict{Acceptable, ReasonGetHeadZeroContentLength}},
	{"bare LF lines", "GET / HTTP/1.1\nHost: a\n\n", Verdict{Acceptable, ReasonNonCrLfLineTermination}},
	{"parse findings come before header findings", "GET / HTTP/1.1\r\nX: \x01\r\nY: z\n\r\n", Verdict{Acceptable, ReasonNonCrLfLineTermination}},

	// Ambiguous.
	{"tab in the target", "GET /endpoint_a\tHTTP/1.1 HTTP/1.1\r\nX-Forwarded-For: 1.1.1.1\r\n\r\n", Verdict{Ambiguous, ReasonAmbiguousURI}},
	{"empty header name", "POST /foo/bar HTTP/1.1\r\n: chunked\r\nContent-Length: 1000\r\n\r\n", Verdict{Ambiguous, ReasonEmptyHeader}},
	{"white-space header name", "POST /foo/bar HTTP/1.1\r\nContent-Length: 1000\r\n   \t\t  : chunked\r\n\r\n", Verdict{Ambiguous, ReasonMultilineHeader}},
	{"GET with a body length", "GET /test.html HTTP/1.1\r\nUser-Agent: x\r\nContent-Length: 22\r\n\r\n", Verdict{Ambiguous, ReasonUndefinedContentLengthSemantics}},
	{"Content-Length on HTTP/0.9", "POST /foo/bar HTTP/0.9\r\nContent-Length: 100\r\n\r\n", Verdict{Ambiguous, ReasonUndefinedContentLengthSemantics}},
	{"GET with Transfer-Encoding", "GET /foo/bar HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", Verdict{Ambiguous, ReasonUndefinedTransferEncodingSemantics}},
	{"Transfer-Encoding on HTTP/1.0", "POST /test.html HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", Verdict{Ambiguous, ReasonUndefinedTransferEncodingSemantics}},
	{"Transfer-Encoding with no version", "POST /foo/bar\r\nTransfer-Encoding: chunked\r\n\r\n", Verdict{Ambiguous, ReasonUndefinedTransferEncodingSemantics}},
	{"same Content-Length twice", "PUT /foo/bar HTTP/1.1\r\nContent-Length: 1000\r\nContent-Length: 1000\r\n\r\n", Verdict{Ambiguous, ReasonDuplicateContentLength}},
	{"same Content-Length, spelled differently", "PUT /foo/bar HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 05\r\n\r\n", Verdict{Ambiguous, ReasonDuplicateContentLength}},
	{"chunked and Content-Length", "POST /foo/bar HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 100\r\n\r\n", Verdict{Ambiguous, ReasonBothTeClPresent}},
	{"gzip and Content-Length", "POST /foo/bar HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: deflate\r\n\r\n", Verdict{Ambiguous, ReasonBothTeClPresent}},
	{"Transfer-Encoding with a space before the colon", "POST /foo/bar HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n", Verdict{Ambiguous, ReasonSuspiciousHeader}},
	{"Transfer-Encoding with a tab before the colon", "POST /foo/bar HTTP/1.1\r\nTransfer-Encoding\t: chunked\r\nContent-Length: 4\r\n\r\n", Verdict{Ambiguous, ReasonSuspiciousHeader}},
	{"Content_Length with an underscore", "POST /foo/bar HTTP/1.1\r\nContent_Length: 1000\r\n\r\n", Verdict{Ambiguous, ReasonSuspiciousHeader}},
	{"Transfer-Encoding and a word", "POST /foo/bar HTTP/1.1\r\nTransfer-Encoding x: chunked\r\n\r\n", Verdict{Ambiguous, ReasonSuspiciousHeader}},
	{"Transfer---Encoding", "POST /foo/bar HTTP/1.1\r\nTransfer---Encoding: chunked\r\n\r\n", Verdict{Ambiguous, ReasonSuspiciousHeader}},
	{"long s in Transfer-Encoding", "POST /foo/bar HTTP/1.1\r\nTran\xc5\xbffer-Encoding: chunked\r\n\r\n", Verdict{Ambiguous, ReasonSuspiciousHeader}},
	{"dotless i in Transfer-Encoding", "POST /foo/bar HTTP/1.1\r\nTransfer-Encod\xc4\xb1ng: chunked\r\n\r\n", Verdict{Ambiguous, ReasonSuspiciousHeader}},
	{"control byte before Content-Length", "POST /foo/bar HTTP/1.1\r\n\x01Content-Length: 1\r\n\r\n", Verdict{Ambiguous, ReasonSuspiciousHeader}},
	{"folded line", "GET /foo/bar HTTP/1.1\r\nHost: localhost\r\n another-line\r\n\r\n", Verdict{Ambiguous, ReasonMultilineHeader}},
	{"folded first header", "GET /foo/bar HTTP/1.1\r\n Host: localhost\r\n\r\n", Verdict{Ambiguous, ReasonMultilineHeader}},
	{"folded line mimicking Content-Length", "GET /foo/bar HTTP/1.1\r\nA: A\r\n Content-Length: 10\r\n\r\n", Verdict{Ambiguous, ReasonMultilineHeader}},
	{"crafted smuggling in a fold", "GET /smug_a HTTP/1.1\r\nHost: testasset\r\nABC: 1.2.3.4\r\n x-ignore:\r\n\x7fGET /smug_b: HTTP/1.1 \r\nAccept-Language: en\r\nConnection: Keep-Alive\r\n\r\n", Verdict{Ambiguous, ReasonMultilineHeader}},
	{"header without colon", "GET /foo/bar HTTP/1.1\r\nMy-header\r\nAnother-header:1\r\n\r\n", Verdict{Ambiguous, ReasonMissingHeaderColon}},
	{"no target", "GET HTTP/1.1\r\nHost: localhost\r\n\r\n", Verdict{Ambiguous, ReasonMissingURI}},
	{"head ends inside a line", "GET /foo/bar HTTP/1.1\r\nHost: localhost", Verdict{Ambiguous, ReasonPartialHeaderLine}},
	{"head without blank line", "GET /foo/bar HTTP/1.1\r\nHost: localhost\r\n", Verdict{Ambiguous, ReasonMissingLastEmptyLine}},
	{"bad target does not shadow ambiguous Content-Length", "GET /foo/bar\t/baz HTTP/1.1\r\nSome-Custom-Header: Non Rfc -Compliant\x01\r\nContent-Length: 9000\r\n\r\n", Verdict{Ambiguous, ReasonUndefinedContentLengthSemantics}},

	// Severe.
	{"NUL in a value", "POST /foo/bar HTTP/1.1\r\nSome-Bad-Header: value\x00content-length: 1000\r\nContent-Length: 100\r\n\r\n", Verdict{Severe, ReasonBadHeader}},
	{"CR in a value", "POST /test.html HTTP/1.1\r\nContent-Length: 4\r\nX-test: x\rTransfer-Encoding: chunked\r\n\r\n", Verdict{Severe, ReasonBadHeader}},
	{"CR starting a line", "GET /foo/bar HTTP/1.1\r\n\rContent-Length: 10\r\n\r\n", Verdict{Severe, ReasonBadHeader}},
	{"NUL in a folded Content-Type", "GET /foo/bar HTTP/1.1\r\nContent-Type: application/json;\r\n \x00GET /smug HTTP/1.1\r\n\r\n", Verdict{Severe, ReasonBadHeader}},
	{"CR in the target", "GET /\rHTTP/1.1\r\nHost: localhost\r\n\r\n", Verdict{Severe, ReasonBadURI}},
	{"NUL in the target", "GET /endpoint_a\x00HTTP/1.1 HTTP/1.1\r\nX-Forwarded-For: 1.1.1.1\r\n\r\n", Verdict{Severe, ReasonBadURI}},
	{"garbage after the version", "GET /foo/bar HTTP/1.1 \xd0\xb0\xd0\xb1\r\nHost: localhost\r\n\r\n", Verdict{Severe, ReasonBadVersion}},
	{"second version word lands in the target", "GET /endpoint_a HTTP/1.1 HTTP/1.1\r\nX-Forwarded-For: 1.1.1.1\r\n\r\n", Verdict{Acceptable, ReasonSpaceInURI}},
	{"not HTTP at all", "GET / XYZ/1.1\r\nHost: a\r\n\r\n", Verdict{Severe, ReasonBadVersion}},
	{"lower-case version (the library skips it as HTTP/2+)", "GET / http/1.1\r\nHost: a\r\n\r\n", Verdict{Severe, ReasonBadVersion}},
	{"tabs in the request line", "GET\t/foo/bar\tHTTP/1.1\r\nHost: localhost\r\n\r\n", Verdict{Severe, ReasonBadMethod}},
	{"no spaces at all", "GET_/_HTTP/1.1\r\nHost: localhost\r\n\r\n", Verdict{Severe, ReasonBadMethod}},
	{"control byte in the method", "bad_method\x01 /foo/bar HTTP/1.1\r\nHost: localhost\r\n\r\n", Verdict{Severe, ReasonBadMethod}},
	{"different Content-Lengths", "POST /foo/bar HTTP/1.1\r\nContent-Length: 1000\r\nContent-Length: 100\r\n\r\n", Verdict{Severe, ReasonMultipleContentLength}},
	{"look-alike and real Content-Length differ", "POST /foo/bar HTTP/1.1\r\nContent-Length : 100\r\nContent-Length: 1000\r\n\r\n", Verdict{Severe, ReasonMultipleContentLength}},
	{"Content-Length smuggled in a fold", "GET /foo/bar HTTP/1.1\r\nA: A\r\n Content-Length: 10\r\nContent-Length: 100\r\n\r\n", Verdict{Severe, ReasonMultipleContentLength}},
	{"Content-Length list", "POST /foo/bar HTTP/1.1\r\nContent-Length: 1000,1000\r\n\r\n", Verdict{Severe, ReasonBadContentLength}},
	{"negative Content-Length", "POST /foo/bar HTTP/1.1\r\nContent-Length: -1\r\n\r\n", Verdict{Severe, ReasonBadContentLength}},
	{"Content-Length over 64 bits", "POST /foo/bar HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n", Verdict{Severe, ReasonBadContentLength}},
	{"chunked twice in one field", "POST /foo/bar HTTP/1.1\r\nTransfer-Encoding: chunked,chunked\r\n\r\n", Verdict{Severe, ReasonMultipleTransferEncodingChunked}},
	{"chunked in two fields", "POST /test.html HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding:  chunked\r\nContent-Length: 4\r\n\r\n", Verdict{Severe, ReasonMultipleTransferEncodingChunked}},
	{"look-alike and real chunked", "POST /foo/bar HTTP/1.1\r\nTransfer-Encoding : chunked\r\nTransfer-Encoding: chunked\r\n\r\n", Verdict{Severe, ReasonMultipleTransferEncodingChunked}},
	{"unknown coding", "POST /foo/bar HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n", Verdict{Severe, ReasonBadTransferEncoding}},
	{"empty Transfer-Encoding", "POST /foo/bar HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", Verdict{Severe, ReasonBadTransferEncoding}},
	{"trailing comma in Transfer-Encoding", "POST /foo/bar HTTP/1.1\r\nTransfer-Encoding: chunked,\r\n\r\n", Verdict{Severe, ReasonBadTransferEncoding}},
	{"odd header does not shadow bad Transfer-Encoding", "POST /foo/bar HTTP/1.1\r\nSome-Custom-Header: Non-Rfc Compliant\x11\r\nTransfer-Encoding: chunked\x7f\r\n\r\n", Verdict{Severe, ReasonBadTransferEncoding}},
	{"Transfer-Encoding judged before Content-Length", "POST /foo/bar HTTP/1.1\r\nX: \x11\r\nTransfer-Encoding: chunked\x80\r\nContent-Length: $9000\r\n\r\n", Verdict{Severe, ReasonBadTransferEncoding}},
	{"header judged before target", "POST /foo/bar\t/baz HTTP/1.1\r\nTransfer-Encoding: chunked\x80\r\n\r\n", Verdict{Severe, ReasonBadTransferEncoding}},
}

func TestClassify(t *testing.T) {
	for _, tc := range classifyCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Classify([]byte(tc.head)); got != tc.want {
				t.Errorf("Classify(%q) = %+v, want %+v", tc.head, got, tc.want)
			}
		})
	}
}

func TestClassifyManyFramingHeaders(t *testing.T) {
	var b strings.Builder
	b.WriteString("GET /foo HTTP/1.1\r\n")
	for range 200 {
		b.WriteString("name: value\r\n")
	}
	for range 100 {
		b.WriteString("transfer-encoding: chunked\r\n")
	}
	for range 100 {
		b.WriteString("content-length: 500\r\n")
	}
	b.WriteString("\r\n")
	want := Verdict{Severe, ReasonMultipleTransferEncodingChunked}
	if got := Classify([]byte(b.String())); got != want {
		t.Errorf("Classify = %+v, want %+v", got, want)
	}
}

func TestClassifyIgnoresBody(t *testing.T) {
	head := "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n"
	if got := Classify([]byte(head + "\x00\r\nGET / HTTP/9\r\n")); got != (Verdict{}) {
		t.Errorf("Classify with body = %+v, want Compliant", got)
	}
}

func TestSimilarity(t *testing.T) {
	tests := []struct {
		important, name string
		want            likeness
	}{
		{nameTE, "Transfer-Encoding", identical},
		{nameTE, "TRANSFER-ENCODING", identical},
		{nameTE, "Transfer-Encoding ", sameLetters},
		{nameTE, " Transfer-Encoding", sameLetters},
		{nameTE, "Transfer_Encoding", sameLetters},
		{nameTE, "Transfer- Encoding", sameLetters},
		{nameTE, "Transfer-Encoding x", sameLetters},
		{nameTE, "transfer-encoding XY", sameLetters},
		{nameTE, "Transfer-Encoding \x01", sameLetters},
		{nameTE, "\t\x01\x02transfer-encoding\t\x0f\x0c", sameLetters},
		{nameTE, "\r\ntransfer-\t\te\tn\tc o d i ng\t", sameLetters},
		{nameTE, "transfer-encoding1", distant},
		{nameTE, "Transfer-Encoding-Extra", distant},
		{nameTE, "x_transfer_encoding", distant},
		{nameTE, "accept-encoding", distant},
		{nameTE, "Transfer-Encoding\x88", sameLetters},
		{nameTE, "TransferEncoding", distant},
		{nameTE, "Transfer-Encodings", distant},
		{nameTE, "X-Transfer-Encoding", distant},
		{nameTE, "Content-Length", distant},
		{nameCL, "Content-Length", identical},
		{nameCL, "Content-Length\t", sameLetters},
		{nameCL, "\xa0Content-Length", sameLetters},
		{nameCL, "Content-Lengthy", distant},
		{nameCL, "", distant},
	}
	for _, tc := range tests {
		t.Run(tc.important+"/"+tc.name, func(t *testing.T) {
			if got := similarity(tc.important, []byte(tc.name)); got != tc.want {
				t.Errorf("similarity(%q, %q) = %d, want %d", tc.important, tc.name, got, tc.want)
			}
		})
	}
}

func TestClassString(t *testing.T) {
	tests := map[Class]string{Compliant: "Compliant", Acceptable: "Acceptable", Ambiguous: "Ambiguous", Severe: "Severe", 7: "Class(7)"}
	for c, want := range tests {
		if got := c.String(); got != want {
			t.Errorf("Class(%d).String() = %q, want %q", uint8(c), got, want)
		}
	}
}

func TestClassifyAllocatesNothing(t *testing.T) {
	for _, tc := range classifyCases {
		head := []byte(tc.head)
		if n := testing.AllocsPerRun(10, func() { Classify(head) }); n != 0 {
			t.Errorf("%s: Classify allocates %v times", tc.name, n)
		}
	}
}

func BenchmarkClassify(b *testing.B) {
	heads := map[string]string{
		"browser GET": "GET /static/app.js?v=3 HTTP/1.1\r\nHost: www.example.com\r\n" +
			"User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36\r\n" +
			"Accept: */*\r\nAccept-Language: en-US,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\n" +
			"Referer: https://www.example.com/\r\nCookie: session=0123456789abcdef; theme=dark\r\nConnection: keep-alive\r\n\r\n",
		"API POST": "POST /v1/orders HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: application/json\r\n" +
			"Content-Length: 512\r\nAuthorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.ZRrHA1JJJW8opsbCGfG_HACGpVUMN_a9IV7pAx_Zmeo\r\n\r\n",
	}
	for name, head := range heads {
		b.Run(name, func(b *testing.B) {
			h := []byte(head)
			b.ReportAllocs()
			b.SetBytes(int64(len(h)))
			for b.Loop() {
				if v := Classify(h); v.Class != Compliant {
					b.Fatalf("Classify = %+v", v)
				}
			}
		})
	}
}
