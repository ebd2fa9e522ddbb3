package upstream

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplitTrailersOnly(t *testing.T) {
	t.Parallel()
	grpcHeader := func() http.Header {
		return http.Header{
			"Content-Type": {"application/grpc"},
			"Grpc-Status":  {"5"},
			"Grpc-Message": {"not found"},
		}
	}
	tests := []struct {
		name        string
		resp        *http.Response
		wantHeader  http.Header
		wantTrailer http.Header
	}{
		{
			name:        "trailers-only over HTTP/2",
			resp:        &http.Response{ProtoMajor: 2, ContentLength: 0, Header: grpcHeader()},
			wantHeader:  http.Header{"Content-Type": {"application/grpc"}},
			wantTrailer: http.Header{"Grpc-Status": {"5"}, "Grpc-Message": {"not found"}},
		},
		{
			name: "trailers-only with declared trailers kept",
			resp: &http.Response{ProtoMajor: 2, ContentLength: 0, Header: grpcHeader(),
				Trailer: http.Header{"X-Other": nil}},
			wantHeader:  http.Header{"Content-Type": {"application/grpc"}},
			wantTrailer: http.Header{"Grpc-Status": {"5"}, "Grpc-Message": {"not found"}, "X-Other": nil},
		},
		{
			name:       "a body follows: untouched",
			resp:       &http.Response{ProtoMajor: 2, ContentLength: -1, Header: grpcHeader()},
			wantHeader: grpcHeader(),
		},
		{
			name:       "HTTP/1: untouched",
			resp:       &http.Response{ProtoMajor: 1, ContentLength: 0, Header: grpcHeader()},
			wantHeader: grpcHeader(),
		},
		{
			name:       "not gRPC: untouched",
			resp:       &http.Response{ProtoMajor: 2, ContentLength: 0, Header: http.Header{"Grpc-Message": {"x"}}},
			wantHeader: http.Header{"Grpc-Message": {"x"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			splitTrailersOnly(tt.resp)
			if d := cmp.Diff(tt.wantHeader, tt.resp.Header); d != "" {
				t.Errorf("header (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.wantTrailer, tt.resp.Trailer); d != "" {
				t.Errorf("trailer (-want +got):\n%s", d)
			}
		})
	}
}
