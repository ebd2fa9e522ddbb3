package traceid_test

import (
	"fmt"

	"github.com/mtlslb/mtlslb/internal/traceid"
)

func ExampleParse() {
	h, err := traceid.Parse("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(h.Root(), h.Parent(), h.Sampled())

	// The hop's own id; in the proxy it comes from traceid.New(now).
	self, _ := traceid.ParseID("1-67891234-12456789abcdef0123456789")
	fmt.Println(h.AddSelf(self))

	_, err = traceid.Parse("Root=not-an-id")
	fmt.Println(err)
	// Output:
	// 1-5759e988-bd862e3fe1be46a994272793 53995c3f42cd8ad8 1
	// Self=1-67891234-12456789abcdef0123456789;Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1
	// parsing X-Amzn-Trace-Id: malformed trace id: Root="not-an-id" is not 1-<8 hex>-<24 hex>
}
