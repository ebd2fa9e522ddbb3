package control_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mtlslb/mtlslb/internal/configstore"
	"github.com/mtlslb/mtlslb/internal/control"
	"github.com/mtlslb/mtlslb/internal/pki"
)

// collectTwice runs a pass at the fixture's clock and another a grace period later (advancing the clock), so
// that every blob unreferenced at the first is reclaimed by the second.
func (f *fixture) collectTwice(t testing.TB) configstore.BlobCollection {
	t.Helper()
	if _, err := f.svc.CollectBlobs(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(control.DefaultBlobGrace)
	res, err := f.svc.CollectBlobs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestCollectBlobs drives the trust-store operations that stop naming a blob, and checks that collection
// reclaims exactly the blobs no trust store names any more, while every remaining trust store still reads
// and compiles.
func TestCollectBlobs(t *testing.T) {
	ctx := context.Background()
	type blobs struct{ bundle, other, crl1, crl2 []byte }
	tests := []struct {
		name string
		// change runs after "partners" (bundle, crl1, crl2) exists.
		change func(t *testing.T, f *fixture, b blobs)
		gone   func(b blobs) [][]byte
	}{
		{
			name: "removed CRL",
			change: func(t *testing.T, f *fixture, b blobs) {
				if err := f.svc.RemoveRevocations(ctx, "partners", []int64{1}); err != nil {
					t.Fatal(err)
				}
			},
			gone: func(b blobs) [][]byte { return [][]byte{b.crl1} },
		},
		{
			name: "replaced bundle",
			change: func(t *testing.T, f *fixture, b blobs) {
				if _, err := f.svc.ModifyTrustStore(ctx, "partners", control.Upload{Name: "new.pem", Data: b.other}); err != nil {
					t.Fatal(err)
				}
			},
			gone: func(b blobs) [][]byte { return [][]byte{b.bundle} },
		},
		{
			name: "replaced bundle still shared by another trust store",
			change: func(t *testing.T, f *fixture, b blobs) {
				f.create(t, "shared", b.bundle)
				if _, err := f.svc.ModifyTrustStore(ctx, "partners", control.Upload{Name: "new.pem", Data: b.other}); err != nil {
					t.Fatal(err)
				}
			},
			gone: func(b blobs) [][]byte { return nil },
		},
		{
			name: "deleted trust store",
			change: func(t *testing.T, f *fixture, b blobs) {
				if err := f.svc.DeleteTrustStore(ctx, "partners"); err != nil {
					t.Fatal(err)
				}
			},
			gone: func(b blobs) [][]byte { return [][]byte{b.bundle, b.crl1, b.crl2} },
		},
	}
	for _, mode := range checkModes {
		for _, tt := range tests {
			t.Run(mode.name+"/"+tt.name, func(t *testing.T) {
				f := newFixture(t, mode.check)
				b := blobs{
					bundle: f.ca.BundlePEM(),
					other:  append(f.ca.BundlePEM(), pki.EncodeCertsPEM(f.inter.Cert)...),
					crl1:   f.inter.CRL(t, f.inter.Client(t, "revoked-1").Cert),
					crl2:   f.inter.CRL(t, f.inter.Client(t, "revoked-2").Cert),
				}
				f.create(t, "partners", b.bundle, crlUpload("1.crl", b.crl1), crlUpload("2.crl", b.crl2))
				if _, err := f.svc.PutConfig(ctx, document("partners"), nil); err != nil {
					t.Fatal(err)
				}
				// Nothing is garbage yet, however long it waits.
				if res := f.collectTwice(t); res.Reclaimed != 0 || res.Referenced != 3 {
					t.Fatalf("before the change: %+v, want 3 blobs referenced and none reclaimed", res)
				}
				if tt.name == "deleted trust store" {
					// A trust store in use cannot be deleted: free it first.
					if _, err := f.svc.PutConfig(ctx, document(), nil); err != nil {
						t.Fatal(err)
					}
				}
				tt.change(t, f, b)
				res := f.collectTwice(t)

				gone := tt.gone(b)
				var wantBytes int64
				for _, data := range gone {
					wantBytes += int64(len(data))
				}
				if res.Reclaimed != len(gone) || res.ReclaimedBytes != wantBytes || res.Waiting != 0 {
					t.Errorf("collection %+v, want %d blobs (%d bytes) reclaimed and none waiting", res, len(gone), wantBytes)
				}
				for _, data := range [][]byte{b.bundle, b.other, b.crl1, b.crl2} {
					if bytes.Equal(data, b.other) && !strings.Contains(tt.name, "replaced bundle") {
						continue // never stored in this case
					}
					isGone := false
					for _, g := range gone {
						isGone = isGone || bytes.Equal(g, data)
					}
					if stored := f.blobStored(t, data); stored == isGone {
						t.Errorf("blob %s: stored %v, want %v", digest(data), stored, !isGone)
					}
				}
				// Everything still stored reads and compiles.
				stores, err := f.svc.DescribeTrustStores(ctx, "")
				if err != nil {
					t.Fatal(err)
				}
				for _, ts := range stores {
					if _, err := f.svc.GetCABundle(ctx, ts.Name); err != nil {
						t.Errorf("trust store %s: bundle: %v", ts.Name, err)
					}
					for _, r := range ts.Revocations {
						if _, err := f.svc.GetRevocationContent(ctx, ts.Name, r.ID); err != nil {
							t.Errorf("trust store %s: revocation %d: %v", ts.Name, r.ID, err)
						}
					}
				}
				doc, _, err := f.svc.Document(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if err := compileCheck(doc, f.svc.ReadFile(ctx)); err != nil {
					t.Errorf("the stored configuration no longer compiles: %v", err)
				}
			})
		}
	}
}

// TestBlobCollectedBeforeWrite is the put-then-write race lost by the writer: the blobs a request has just
// stored are collected before its transaction (as if it had stalled past the grace period). The request must
// fail with a retryable ConcurrentModification and write nothing, and the retry must succeed.
func TestBlobCollectedBeforeWrite(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		write func(svc *control.Service, f *fixture, crl []byte) error
	}{
		{name: "create", write: func(svc *control.Service, f *fixture, crl []byte) error {
			_, err := svc.CreateTrustStore(ctx, "fresh", control.Upload{Name: "b.pem", Data: f.inter.BundlePEM()}, nil)
			return err
		}},
		{name: "modify", write: func(svc *control.Service, f *fixture, crl []byte) error {
			_, err := svc.ModifyTrustStore(ctx, "partners", control.Upload{Name: "b.pem", Data: append(f.ca.BundlePEM(), pki.EncodeCertsPEM(f.inter.Cert)...)})
			return err
		}},
		{name: "add revocation", write: func(svc *control.Service, f *fixture, crl []byte) error {
			_, err := svc.AddRevocations(ctx, "partners", []control.Upload{crlUpload("new.crl", crl)})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, compileCheck)
			f.create(t, "partners", f.ca.BundlePEM())
			crl := f.inter.CRL(t, f.inter.Client(t, "revoked").Cert)
			before, err := f.svc.DescribeTrustStores(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			rev := f.revision(t)

			racing := &racingStore{Memory: f.mem}
			collected := 0
			collectNow := func() {
				for range 2 { // no grace period: the second pass deletes what the first found unreferenced
					res, err := f.mem.CollectBlobs(ctx, time.Now(), 0)
					if err != nil {
						t.Error(err)
					}
					collected += res.Reclaimed
				}
			}
			racing.before.Store(&collectNow)
			err = tt.write(f.service(racing, compileCheck), f, crl)
			if collected == 0 {
				t.Fatal("the race collected nothing: the test did not set up what it means to")
			}
			wantCode(t, err, control.CodeConflict, "retry", "sha256:")
			if !errors.Is(err, configstore.ErrBlobNotFound) {
				t.Errorf("error %v does not wrap configstore.ErrBlobNotFound", err)
			}
			if got := f.revision(t); got != rev {
				t.Errorf("revision went from %d to %d: the refused write wrote", rev, got)
			}
			after, err := f.svc.DescribeTrustStores(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(after) != len(before) || after[0].CACertificatesBundle != before[0].CACertificatesBundle || len(after[0].Revocations) != len(before[0].Revocations) {
				t.Errorf("trust stores changed by a refused write: %+v, were %+v", after, before)
			}
			if err := tt.write(f.svc, f, crl); err != nil {
				t.Errorf("the retry failed: %v", err)
			}
		})
	}
}

// TestReaddedCRLKept re-adds a removed CRL just as its grace period ends, with a collection pass between the
// request's upload and its write: storing the blob again restarts its grace period, so the pass keeps it and
// the request succeeds.
func TestReaddedCRLKept(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, compileCheck)
	crl := f.inter.CRL(t, f.inter.Client(t, "revoked").Cert)
	f.create(t, "partners", f.ca.BundlePEM(), crlUpload("1.crl", crl))
	if err := f.svc.RemoveRevocations(ctx, "partners", []int64{1}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CollectBlobs(ctx); err != nil { // the CRL's grace period starts
		t.Fatal(err)
	}
	f.now = f.now.Add(control.DefaultBlobGrace - time.Second)
	racing := &racingStore{Memory: f.mem}
	var passErr error
	var pass configstore.BlobCollection
	collectLater := func() {
		f.now = f.now.Add(2 * time.Second) // past the first grace period
		pass, passErr = f.svc.CollectBlobs(ctx)
	}
	racing.before.Store(&collectLater)
	if _, err := f.service(racing, compileCheck).AddRevocations(ctx, "partners", []control.Upload{crlUpload("again.crl", crl)}); err != nil {
		t.Fatalf("re-adding the CRL: %v", err)
	}
	if passErr != nil || pass.Reclaimed != 0 || pass.Waiting != 1 {
		t.Errorf("the pass between upload and write: %+v, %v; want the CRL waiting, not reclaimed", pass, passErr)
	}
	if _, err := f.svc.GetRevocationContent(ctx, "partners", 2); err != nil {
		t.Errorf("the re-added CRL: %v", err)
	}
}

// TestPutConfigNamesAbsentBlob: a document's file paths are never content addresses, so a digest in its text
// can only be a mistake; the store refuses to keep a value naming a blob it does not hold, and the answer
// says so instead of "retry".
func TestPutConfigNamesAbsentBlob(t *testing.T) {
	f := newFixture(t, nil)
	absent := digest([]byte("never uploaded"))
	doc := append([]byte("# bundle: "+absent+"\n"), document()...)
	_, err := f.svc.PutConfig(context.Background(), doc, nil)
	wantCode(t, err, control.CodeInvalidConfiguration, absent)
}

// syncBuffer is a log destination safe for the collector goroutine and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunBlobCollection runs the collector as serve does, on a fake clock: a removed CRL is reclaimed after
// the grace period and the next tick, with a log line saying how many blobs and bytes, and the loop stops
// when its context is cancelled.
func TestRunBlobCollection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, nil)
		svc := control.New(control.Options{Store: f.mem, Dir: f.dir, ReadFile: os.ReadFile}) // the bubble's clock
		ctx, cancel := context.WithCancel(context.Background())
		var logs syncBuffer
		log := slog.New(slog.NewTextHandler(&logs, nil))
		stopped := make(chan struct{})
		var passes []configstore.BlobCollection // what observe got, in order
		go func() {
			svc.RunBlobCollection(ctx, time.Minute, log, func(res configstore.BlobCollection, err error) {
				if err != nil {
					t.Errorf("pass failed: %v", err)
				}
				passes = append(passes, res)
			})
			close(stopped)
		}()
		synctest.Wait() // the first pass has run: the next is at 1m

		crl := f.inter.CRL(t, f.inter.Client(t, "revoked").Cert)
		if _, err := svc.CreateTrustStore(ctx, "partners", control.Upload{Name: "b.pem", Data: f.ca.BundlePEM()}, []control.Upload{crlUpload("1.crl", crl)}); err != nil {
			t.Fatal(err)
		}
		if err := svc.RemoveRevocations(ctx, "partners", []int64{1}); err != nil {
			t.Fatal(err)
		}
		// The pass at 1m starts the CRL's grace period; the one at 5m finds it not yet over.
		time.Sleep(control.DefaultBlobGrace)
		synctest.Wait()
		if !f.blobStored(t, crl) {
			t.Fatal("the CRL was reclaimed before its grace period had passed")
		}
		time.Sleep(time.Minute) // the pass at 6m, a grace period after the one at 1m
		synctest.Wait()
		if f.blobStored(t, crl) {
			t.Fatal("the removed CRL is still stored a grace period and an interval later")
		}
		want := fmt.Sprintf(`msg="reclaimed unreferenced blobs" blobs=1 bytes=%d referenced=1 waiting=0`, len(crl))
		if got := logs.String(); strings.Count(got, want) != 1 {
			t.Errorf("log:\n%s\nwant one line with %s", got, want)
		}
		if !f.blobStored(t, f.ca.BundlePEM()) {
			t.Error("the bundle, still named, was reclaimed")
		}
		// Passes at 0, 1m, ..., 6m; the one at 6m reclaimed the CRL.
		if len(passes) != 7 {
			t.Fatalf("observe got %d passes, want 7: %+v", len(passes), passes)
		}
		if got, want := passes[6], (configstore.BlobCollection{Reclaimed: 1, ReclaimedBytes: int64(len(crl)), Referenced: 1}); got != want {
			t.Errorf("observed last pass %+v, want %+v", got, want)
		}
		if got := passes[5]; got.Reclaimed != 0 || got.Waiting != 1 {
			t.Errorf("observed pass at 5m %+v, want the CRL waiting", got)
		}
		cancel()
		synctest.Wait()
		select {
		case <-stopped:
		default:
			t.Error("RunBlobCollection still runs after its context was cancelled")
		}
	})
}

// TestRunBlobCollectionStopsWhenStoreCloses: serve closes the store before cancelling the context; the loop
// must end quietly rather than log a failure every interval.
func TestRunBlobCollectionStopsWhenStoreCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := configstore.NewMemory()
		svc := control.New(control.Options{Store: mem})
		var logs syncBuffer
		stopped := make(chan struct{})
		go func() {
			svc.RunBlobCollection(context.Background(), time.Minute, slog.New(slog.NewTextHandler(&logs, nil)), nil)
			close(stopped)
		}()
		synctest.Wait()
		mem.Close()
		time.Sleep(time.Minute)
		synctest.Wait()
		select {
		case <-stopped:
		default:
			t.Fatal("RunBlobCollection still runs after the store closed")
		}
		if got := logs.String(); got != "" {
			t.Errorf("log after a close:\n%s\nwant nothing", got)
		}
	})
}
