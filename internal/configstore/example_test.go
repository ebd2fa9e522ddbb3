package configstore_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/mtlslb/mtlslb/internal/configstore"
)

// The admin API's ETag is a key's ModRevision; If-Match becomes a Cond, so an
// update based on a stale read is refused instead of overwriting a newer one.
func Example_ifMatch() {
	ctx := context.Background()
	s := configstore.NewMemory()
	defer s.Close()

	// Create: the key must not exist yet.
	rev, _ := s.Txn(ctx,
		[]configstore.Cond{{Key: "trust-stores/partners", ModRevision: 0}},
		[]configstore.Op{{Key: "trust-stores/partners", Value: []byte(`{"bundle":"sha256:…"}`)}})
	fmt.Println("created at revision", rev)

	kv, _, _, _ := s.Get(ctx, "trust-stores/partners")
	etag := kv.ModRevision

	// Someone else modifies it first…
	s.Txn(ctx, nil, []configstore.Op{{Key: "trust-stores/partners", Value: []byte(`{"bundle":"sha256:other"}`)}})

	// …so the update conditioned on the old ETag is refused.
	_, err := s.Txn(ctx,
		[]configstore.Cond{{Key: "trust-stores/partners", ModRevision: etag}},
		[]configstore.Op{{Key: "trust-stores/partners", Value: []byte(`{"bundle":"sha256:mine"}`)}})
	var conflict *configstore.ConflictError
	if errors.As(err, &conflict) {
		fmt.Printf("412 Precondition Failed: %s is at revision %d, not %d\n", conflict.Key, conflict.Got, conflict.Want)
	}
	// Output:
	// created at revision 1
	// 412 Precondition Failed: trust-stores/partners is at revision 2, not 1
}

// A node converges by listing once and then watching from the listed revision:
// changes committed in between are replayed, none is missed.
func Example_listThenWatch() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := configstore.NewMemory()
	defer s.Close()
	s.Txn(ctx, nil, []configstore.Op{{Key: "listeners/https", Value: []byte("v1")}})

	kvs, rev, _ := s.Range(ctx, "listeners/")
	fmt.Printf("snapshot at revision %d: %d listener(s)\n", rev, len(kvs))

	s.Txn(ctx, nil, []configstore.Op{{Key: "listeners/https", Value: []byte("v2")}}) // between list and watch

	events, _ := s.Watch(ctx, "listeners/", rev)
	for _, e := range <-events {
		fmt.Printf("revision %d: %s = %s\n", e.KV.ModRevision, e.KV.Key, e.KV.Value)
	}
	// Output:
	// snapshot at revision 1: 1 listener(s)
	// revision 2: listeners/https = v2
}
