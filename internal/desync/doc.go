// Package desync implements ALB's HTTP desync mitigation
// (desync_mitigation_mode): every HTTP/1.x request is classified Compliant,
// Acceptable, Ambiguous or Severe with a classification_reason, and the
// mode decides from the class whether the request is forwarded, forwarded
// with both connections closed afterwards, or refused with 400.
//
// # Classification
//
// ALB classifies with aws/http-desync-guardian, and Classify follows that
// library's rules and reason names: a header that normalises to
// Transfer-Encoding or Content-Length without being it is Ambiguous
// (SuspiciousHeader), both of them together is Ambiguous (BothTeClPresent),
// disagreeing Content-Lengths are Severe (MultipleContentLength), and so
// on; the Reason constants list them all with their classes. Classify
// reads the raw head the lenient way the library does, not the way any
// server would, because the point is to notice what different parsers
// could disagree about. It allocates nothing.
//
// # Modes
//
// Mode.Decide is ALB's table: monitor forwards everything; defensive (the
// default, and the zero Mode) forwards Compliant and Acceptable requests,
// forwards Ambiguous ones but then closes the client and target
// connections, and refuses Severe ones; strictest forwards only Compliant
// requests. A refused request gets 400 and its connection is closed, since
// where it ends cannot be trusted.
//
// # Following a connection
//
// net/http parses requests itself and hands the handler a normalised
// request: it drops Content-Length when chunked is present, joins folded
// header lines, and keeps no raw bytes. Conn therefore sits between the
// connection and net/http's reader. Every byte passes through unchanged;
// on the way, an incremental parser finds each request head, classifies
// it, queues the verdict, and then skips the body exactly as net/http
// frames it (chunked wins over Content-Length, Transfer-Encoding is
// ignored on HTTP/1.0, up to four stray CR/LF bytes are dropped after a
// POST), so that the next head it finds is the next request net/http
// serves, and text inside a body that looks like a request never gets a
// verdict. Because a head passes through Read before net/http can parse
// it, the verdict is queued before the handler runs; the handler takes it
// with Next, once per request, in order.
//
// When Conn cannot follow the stream the way net/http would (a head over
// the size limit, a corrupt chunked body, a head net/http refuses), it
// stops parsing and every later Next returns Severe. In all those cases
// net/http itself closes the connection, so nothing is lost; the Severe
// answer is the fail-closed default should that ever not hold. Memory is
// bounded by one head (the limit given to NewConn) and a queue of at most
// 1024 verdicts, whatever the peer sends.
//
// Wiring requirements, each of which otherwise misaligns verdicts and
// requests:
//
//   - Wrap only connections that speak HTTP/1.x (not HTTP/2 after ALPN h2).
//   - Call Next exactly once for every request the server hands to any
//     handler, at the outermost handler, before anything can answer it.
//   - Set http.Server.DisableGeneralOptionsHandler: otherwise net/http
//     answers "OPTIONS *" itself, without a handler, and that verdict is
//     never taken.
//   - net/http does not see a *tls.Conn behind Conn, so Request.TLS is
//     nil: complete the handshake before serving and carry the connection
//     state through Server.ConnContext (NetConn gives the *tls.Conn back).
//
// # What net/http refuses before any handler runs
//
// net/http answers some requests itself and closes the connection before a
// handler could see the verdict: 400, 501 for an unsupported
// Transfer-Encoding, 505 for a version other than HTTP/1.x, 431 for a head
// over MaxHeaderBytes. ALB would forward these in monitor mode (and, for
// the Acceptable ones, in defensive mode); mtlslb cannot, in any mode. The
// tests pin each of these down:
//
//   - Content-Length headers whose values differ, or a Content-Length that
//     is empty or not a plain decimal (MultipleContentLength,
//     BadContentLength). Duplicates must be equal as text: "5" and "05"
//     are a DuplicateContentLength to ALB but refused by net/http.
//   - Any Transfer-Encoding on HTTP/1.1 other than one field that is
//     exactly "chunked": "gzip", "chunked, chunked", two fields, "xchunked"
//     (BadTransferEncoding, MultipleTransferEncodingChunked).
//   - A header name that is not a token, a space before the colon included,
//     or a control byte or DEL in a value: so every NonCompliantHeader,
//     BadHeader and EmptyHeader request, and every SuspiciousHeader whose
//     name is not a token ("Transfer-Encoding : chunked", "\x01Content-Length").
//   - A header line without a colon, or a first header line that starts
//     with white space (MissingHeaderColon, MultilineHeader there).
//   - A request line that is not "method SP target SP HTTP/1.x" with a
//     token method and a target free of spaces and control bytes
//     (SpaceInUri, AmbiguousUri, BadUri, MissingUri, BadMethod, BadVersion,
//     and NonCompliantVersion except for HTTP/1.2 to HTTP/1.9).
//
// What does reach a handler with a non-Compliant verdict: BothTeClPresent,
// DuplicateContentLength, SuspiciousHeader with a token name
// ("Content_Length", "Transfer---Encoding"), MultilineHeader (folded lines
// after the first header), Transfer-Encoding or a Content-Length on GET or
// HEAD, Transfer-Encoding on HTTP/1.0, NonCrLfLineTermination, and HTTP/1.2
// to HTTP/1.9. For those the three modes behave as ALB's.
package desync
