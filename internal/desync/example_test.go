package desync_test

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"github.com/mtlslb/mtlslb/internal/desync"
)

func ExampleClassify() {
	head := []byte("POST /upload HTTP/1.1\r\nHost: example.com\r\n" +
		"Transfer-Encoding: chunked\r\nContent-Length: 11\r\n\r\n")
	v := desync.Classify(head)
	fmt.Println(v.Class, v.Reason)
	fmt.Printf("%+v\n", desync.Defensive.Decide(v.Class))
	// Output:
	// Ambiguous BothTeClPresent
	// {Block:false CloseAfter:true}
}

func ExampleMode_Decide() {
	mode, err := desync.ParseMode("strictest")
	if err != nil {
		panic(err)
	}
	for _, c := range []desync.Class{desync.Compliant, desync.Acceptable} {
		fmt.Printf("%s %s: %+v\n", mode, c, mode.Decide(c))
	}
	// Output:
	// strictest Compliant: {Block:false CloseAfter:false}
	// strictest Acceptable: {Block:true CloseAfter:true}
}

// desyncListener hands net/http every connection wrapped in a desync.Conn.
type desyncListener struct{ net.Listener }

func (l desyncListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return desync.NewConn(c, 80<<10), nil
}

type desyncConnKey struct{}

// Example shows the wiring: wrap connections before net/http reads them,
// keep the Conn in the connection's context, and take one verdict per
// request in the outermost handler.
func Example() {
	mode := desync.Defensive
	srv := &http.Server{
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, desyncConnKey{}, c)
		},
		// Otherwise net/http answers "OPTIONS *" without a handler and
		// that request's verdict is never taken.
		DisableGeneralOptionsHandler: true,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			dc, _ := r.Context().Value(desyncConnKey{}).(*desync.Conn)
			v, ok := dc.Next()
			if !ok {
				v = desync.Verdict{Class: desync.Severe} // fail closed
			}
			d := mode.Decide(v.Class)
			if d.CloseAfter {
				w.Header().Set("Connection", "close")
			}
			if d.Block {
				http.Error(w, "Bad Request", http.StatusBadRequest)
				return
			}
			// ... forward, never reusing the target connection if d.CloseAfter ...
		}),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return
	}
	defer srv.Close()
	go srv.Serve(desyncListener{ln})
}
