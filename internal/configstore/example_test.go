package configstore_test

import (
	"context"
	"errors"
	"fmt"
	"time"

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

// Rotating a CRL: the new one is put and named, the old one is named no more,
// and collection passes reclaim it once it has stayed unreferenced for the grace
// period. A writer that stalls past the grace period between PutBlob and Txn
// gets ErrBlobNotFound, never a stored value naming a missing blob.
func Example_collectBlobs() {
	ctx := context.Background()
	s := configstore.NewMemory()
	defer s.Close()
	const grace = 5 * time.Minute
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

	old, _ := s.PutBlob(ctx, []byte("CRL #1"))
	s.Txn(ctx, nil, []configstore.Op{{Key: "truststores/partners", Value: []byte(`{"crl":"` + old + `"}`)}})
	next, _ := s.PutBlob(ctx, []byte("CRL #2"))
	s.Txn(ctx, nil, []configstore.Op{{Key: "truststores/partners", Value: []byte(`{"crl":"` + next + `"}`)}})

	res, _ := s.CollectBlobs(ctx, start, grace) // starts the old CRL's clock
	fmt.Printf("first pass: %d reclaimed, %d waiting\n", res.Reclaimed, res.Waiting)
	res, _ = s.CollectBlobs(ctx, start.Add(grace), grace)
	fmt.Printf("a grace period later: %d reclaimed (%d bytes), %d still named\n", res.Reclaimed, res.ReclaimedBytes, res.Referenced)

	_, err := s.Txn(ctx, nil, []configstore.Op{{Key: "truststores/partners", Value: []byte(`{"crl":"` + old + `"}`)}})
	fmt.Println("naming the collected CRL again:", errors.Is(err, configstore.ErrBlobNotFound))
	// Output:
	// first pass: 0 reclaimed, 1 waiting
	// a grace period later: 1 reclaimed (6 bytes), 1 still named
	// naming the collected CRL again: true
}
