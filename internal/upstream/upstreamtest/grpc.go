package upstreamtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The echo service of NewGRPCServer. Its messages are google.protobuf.StringValue, so it needs no
// generated code.
const (
	// EchoService is the gRPC service name; the health service reports it SERVING.
	EchoService = "mtlslb.upstreamtest.Echo"
	// MethodUnary answers the request's value, unless it is FailValue.
	MethodUnary = "/" + EchoService + "/Unary"
	// MethodServerStream answers StreamReplies messages, "<value> 0", "<value> 1", ….
	MethodServerStream = "/" + EchoService + "/ServerStream"
	// MethodBidi answers each message as it arrives, until the client closes its side.
	MethodBidi = "/" + EchoService + "/Bidi"

	// StreamReplies is how many messages MethodServerStream sends.
	StreamReplies = 3
	// FailValue makes MethodUnary fail with codes.NotFound in a trailers-only response (HEADERS with
	// END_STREAM carrying grpc-status), the form a proxy most easily breaks.
	FailValue = "fail"
	// TrailerKey is the trailer metadata every successful echo call ends with; its value is the last
	// value received.
	TrailerKey = "x-upstreamtest-trailer"
	// ClientCNKey is the header metadata carrying the common name of the client certificate the
	// target received, empty when there was none.
	ClientCNKey = "x-upstreamtest-client-cn"
)

var echoStreams = []grpc.StreamDesc{
	{StreamName: "ServerStream", Handler: serverStream, ServerStreams: true},
	{StreamName: "Bidi", Handler: bidi, ServerStreams: true, ClientStreams: true},
}

var echoDesc = grpc.ServiceDesc{
	ServiceName: EchoService,
	HandlerType: (*any)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Unary", Handler: unary}},
	Streams:     echoStreams,
	Metadata:    "upstreamtest",
}

// NewGRPCServer starts a gRPC server on 127.0.0.1 and returns its address. It serves the echo service
// (EchoService) and the standard health service (grpc.health.v1.Health, with "" and EchoService
// SERVING). With tlsConfig nil it speaks h2c with prior knowledge; otherwise TLS with tlsConfig, "h2"
// added to its ALPN protocols.
func NewGRPCServer(t testing.TB, tlsConfig *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening for the gRPC target: %v", err)
	}
	var opts []grpc.ServerOption
	if tlsConfig != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsConfig)))
	}
	srv := grpc.NewServer(opts...)
	srv.RegisterService(&echoDesc, nil)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(EchoService, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		// Stop, not GracefulStop: a test that fails mid-stream must not hang its cleanup.
		srv.Stop()
		if err := <-done; err != nil {
			t.Errorf("gRPC target: %v", err)
		}
	})
	return ln.Addr().String()
}

func unary(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	in := new(wrapperspb.StringValue)
	if err := dec(in); err != nil {
		return nil, err
	}
	if in.GetValue() == FailValue {
		// Before any header is set, so the status goes out as a trailers-only response.
		return nil, status.Error(codes.NotFound, "upstreamtest: asked to fail")
	}
	if err := grpc.SetHeader(ctx, metadata.Pairs(ClientCNKey, clientCN(ctx))); err != nil {
		return nil, err
	}
	if err := grpc.SetTrailer(ctx, metadata.Pairs(TrailerKey, in.GetValue())); err != nil {
		return nil, err
	}
	return in, nil
}

func serverStream(_ any, stream grpc.ServerStream) error {
	in := new(wrapperspb.StringValue)
	if err := stream.RecvMsg(in); err != nil {
		return err
	}
	if err := stream.SetHeader(metadata.Pairs(ClientCNKey, clientCN(stream.Context()))); err != nil {
		return err
	}
	for i := range StreamReplies {
		if err := stream.SendMsg(wrapperspb.String(fmt.Sprintf("%s %d", in.GetValue(), i))); err != nil {
			return err
		}
	}
	stream.SetTrailer(metadata.Pairs(TrailerKey, in.GetValue()))
	return nil
}

func bidi(_ any, stream grpc.ServerStream) error {
	if err := stream.SetHeader(metadata.Pairs(ClientCNKey, clientCN(stream.Context()))); err != nil {
		return err
	}
	last := ""
	for {
		in := new(wrapperspb.StringValue)
		err := stream.RecvMsg(in)
		if errors.Is(err, io.EOF) {
			stream.SetTrailer(metadata.Pairs(TrailerKey, last))
			return nil
		}
		if err != nil {
			return err
		}
		last = in.GetValue()
		if err := stream.SendMsg(in); err != nil {
			return err
		}
	}
}

func clientCN(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ""
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return ""
	}
	return info.State.PeerCertificates[0].Subject.CommonName
}

// EchoUnary calls MethodUnary with msg and returns the answer.
func EchoUnary(ctx context.Context, cc grpc.ClientConnInterface, msg string, opts ...grpc.CallOption) (string, error) {
	out := new(wrapperspb.StringValue)
	if err := cc.Invoke(ctx, MethodUnary, wrapperspb.String(msg), out, opts...); err != nil {
		return "", err
	}
	return out.GetValue(), nil
}

// EchoServerStream calls MethodServerStream with msg and returns every message of the answer.
func EchoServerStream(ctx context.Context, cc grpc.ClientConnInterface, msg string, opts ...grpc.CallOption) ([]string, error) {
	stream, err := cc.NewStream(ctx, &echoStreams[0], MethodServerStream, opts...)
	if err != nil {
		return nil, err
	}
	if err := stream.SendMsg(wrapperspb.String(msg)); err != nil {
		return nil, err
	}
	if err := stream.CloseSend(); err != nil {
		return nil, err
	}
	var got []string
	for {
		out := new(wrapperspb.StringValue)
		err := stream.RecvMsg(out)
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got = append(got, out.GetValue())
	}
}

// EchoBidi calls MethodBidi, sending each message only after the answer to the previous one has
// arrived, so a proxy that buffers either direction makes it hang (bound ctx) rather than pass. It
// returns the answers.
func EchoBidi(ctx context.Context, cc grpc.ClientConnInterface, msgs []string, opts ...grpc.CallOption) ([]string, error) {
	stream, err := cc.NewStream(ctx, &echoStreams[1], MethodBidi, opts...)
	if err != nil {
		return nil, err
	}
	var got []string
	for _, m := range msgs {
		if err := stream.SendMsg(wrapperspb.String(m)); err != nil {
			return got, err
		}
		out := new(wrapperspb.StringValue)
		if err := stream.RecvMsg(out); err != nil {
			return got, err
		}
		got = append(got, out.GetValue())
	}
	if err := stream.CloseSend(); err != nil {
		return got, err
	}
	// The end of the stream carries the status and trailers; an error here is the call's.
	if err := stream.RecvMsg(new(wrapperspb.StringValue)); !errors.Is(err, io.EOF) {
		if err == nil {
			err = errors.New("upstreamtest: bidi stream answered more messages than sent")
		}
		return got, err
	}
	return got, nil
}
