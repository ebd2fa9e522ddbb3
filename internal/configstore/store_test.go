package configstore

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestWatchSlowReader checks that a reader that falls out of the history window
// gets a closed channel (never a silent gap) and that writers do not wait for it.
func TestWatchSlowReader(t *testing.T) {
	const history, writes = 4, 100
	m := newMemory(history)
	t.Cleanup(func() { m.Close() })
	ch, err := m.Watch(t.Context(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for range writes { // completes although nobody reads ch
		mustTxn(t, m, nil, put("k", "v"))
	}
	var got []Revision
	waitDrain(t, ch, func(events []Event) { got = append(got, events[0].KV.ModRevision) })
	if t.Context().Err() != nil {
		t.Fatal("test context done")
	}
	if len(got) >= writes {
		t.Fatalf("slow reader received all %d revisions; want the channel closed after it fell behind", writes)
	}
	for i, rev := range got {
		if rev != Revision(i+1) {
			t.Fatalf("slow reader received revisions %v: not contiguous from 1", got)
		}
	}
}

func TestWatchCompacted(t *testing.T) {
	m := newMemory(4)
	t.Cleanup(func() { m.Close() })
	for range 20 {
		mustTxn(t, m, nil, put("k", "v"))
	}
	tests := []struct {
		name      string
		after     Revision
		compacted bool
	}{
		{name: "from the start", after: 0, compacted: true},
		{name: "old revision", after: 5, compacted: true},
		{name: "current revision", after: 20},
		{name: "recent revision", after: 18},
		{name: "future revision", after: 25},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.Watch(t.Context(), "", tc.after)
			if errors.Is(err, ErrCompacted) != tc.compacted {
				t.Errorf("Watch(after %d) = %v; want ErrCompacted: %v", tc.after, err, tc.compacted)
			}
		})
	}
	// A watch from a recent revision replays what is retained.
	ch, err := m.Watch(t.Context(), "", 18)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []Revision{19, 20} {
		if got := receive(t, ch)[0].KV.ModRevision; got != want {
			t.Errorf("revision %d, want %d", got, want)
		}
	}
	// A watch from the future starts delivering once the store reaches it.
	future, err := m.Watch(t.Context(), "", 22)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		mustTxn(t, m, nil, put("k", "v"))
	}
	if got := receive(t, future)[0].KV.ModRevision; got != 23 {
		t.Errorf("watch from the future delivered revision %d first, want 23", got)
	}
}

// TestWatchHistoryBytes checks the byte bound of the history: revisions holding
// large values are dropped sooner than the revision limit says.
func TestWatchHistoryBytes(t *testing.T) {
	h := newHub(0, 100)
	h.maxBytes = 4 << 10
	value := make([]byte, 1<<10)
	for rev := Revision(1); rev <= 20; rev++ {
		h.publish(rev, []Event{{KV: KV{Key: "k", Value: value, CreateRevision: 1, ModRevision: rev}}})
	}
	if h.bytes > h.maxBytes || len(h.history) >= 5 || h.floor != 20-Revision(len(h.history)) {
		t.Errorf("history holds %d revisions, %d bytes, floor %d; want under %d bytes", len(h.history), h.bytes, h.floor, h.maxBytes)
	}
	if _, err := h.watch(t.Context(), "", 10); !errors.Is(err, ErrCompacted) {
		t.Errorf("watch from a dropped revision = %v, want ErrCompacted", err)
	}
	ch, err := h.watch(t.Context(), "", h.floor)
	if err != nil {
		t.Fatal(err)
	}
	if got := receive(t, ch)[0].KV.ModRevision; got != h.floor+1 {
		t.Errorf("watch from the floor delivered revision %d first, want %d", got, h.floor+1)
	}
	h.close()
}

// TestCloseDuringWrites closes stores while goroutines write and watch: every
// call either succeeds or reports ErrClosed, and nothing panics or leaks.
func TestCloseDuringWrites(t *testing.T) {
	stores := []struct {
		name string
		open func(testing.TB) Store
	}{
		{name: "memory", open: func(testing.TB) Store { return NewMemory() }},
		{name: "bolt", open: func(t testing.TB) Store { return openTestBolt(t, t.TempDir()+"/store.db") }},
	}
	for _, tc := range stores {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.open(t)
			ch, err := s.Watch(t.Context(), "", 0)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 3)
			for w := range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 1000; i++ {
						_, err := s.Txn(context.Background(), nil, []Op{put("k/"+string(rune('a'+w)), "v")})
						if errors.Is(err, ErrClosed) {
							return
						}
						if err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			mustTxn(t, s, nil, put("first", "v"))
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("Txn during Close: %v", err)
			}
			waitDrain(t, ch, func([]Event) {})
		})
	}
}

func TestConflictErrorMessage(t *testing.T) {
	err := error(&ConflictError{Key: "trust-stores/partners", Want: 3, Got: 5})
	msg := err.Error()
	for _, want := range []string{"trust-stores/partners", "3", "5", "conflict"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not mention %q", msg, want)
		}
	}
	if !errors.Is(err, ErrConflict) {
		t.Error("ConflictError does not wrap ErrConflict")
	}
}

func TestParseDigest(t *testing.T) {
	valid := blobDigest([]byte("bundle"))
	tests := []struct {
		name   string
		digest string
		ok     bool
	}{
		{name: "valid", digest: valid, ok: true},
		{name: "empty", digest: ""},
		{name: "prefix only", digest: "sha256:"},
		{name: "missing prefix", digest: strings.TrimPrefix(valid, "sha256:")},
		{name: "upper-case prefix", digest: "SHA256:" + strings.TrimPrefix(valid, "sha256:")},
		{name: "upper-case hex", digest: "sha256:" + strings.ToUpper(strings.TrimPrefix(valid, "sha256:"))},
		{name: "too long", digest: valid + "0"},
		{name: "too short", digest: valid[:len(valid)-1]},
		{name: "not hex", digest: valid[:len(valid)-1] + "z"},
		{name: "NUL", digest: valid[:len(valid)-1] + "\x00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseDigest(tc.digest)
			if (err == nil) != tc.ok {
				t.Errorf("parseDigest(%q) = %v, want ok %v", tc.digest, err, tc.ok)
			}
		})
	}
}

func FuzzParseDigest(f *testing.F) {
	f.Add(blobDigest(nil))
	f.Add("sha256:")
	f.Add("sha256:" + strings.Repeat("A", 64))
	f.Add("../../x")
	f.Fuzz(func(t *testing.T, s string) {
		sum, err := parseDigest(s)
		if err != nil {
			if len(err.Error()) > 300 {
				t.Errorf("error message of %d bytes for outside input", len(err.Error()))
			}
			return
		}
		// Exactly one spelling is accepted per digest, so a digest is a safe key.
		if got := digestPrefix + hex.EncodeToString(sum[:]); got != s {
			t.Errorf("parseDigest accepted %q, canonical form %q", s, got)
		}
	})
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(record{createRev: 1, modRev: 1, value: []byte("v")}))
	f.Add(encodeRecord(record{createRev: 3, modRev: 9}))
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeRecord(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("decodeRecord error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if r.createRev <= 0 || r.modRev < r.createRev {
			t.Errorf("decodeRecord accepted revisions %d/%d", r.createRev, r.modRev)
		}
		if !bytes.Equal(encodeRecord(r), data) {
			t.Errorf("encodeRecord(decodeRecord(x)) != x")
		}
	})
}

// waitDrain passes every slice to fn until ch closes, failing after waitLimit.
func waitDrain(t testing.TB, ch <-chan []Event, fn func([]Event)) {
	t.Helper()
	for {
		events, ok := recvOrClosed(t, ch)
		if !ok {
			return
		}
		fn(events)
	}
}

func recvOrClosed(t testing.TB, ch <-chan []Event) ([]Event, bool) {
	t.Helper()
	select {
	case events, ok := <-ch:
		return events, ok
	case <-t.Context().Done():
		t.Fatal("test context done while waiting for the watch")
	case <-time.After(waitLimit):
		t.Fatal("watch channel neither delivered nor closed within", waitLimit)
	}
	return nil, false
}

// FuzzKey feeds keys and values from outside (resource names reach keys through
// the admin API) to Memory and Bolt: both accept or refuse alike, without a
// panic, and an accepted key reads back exactly.
func FuzzKey(f *testing.F) {
	f.Add("trust-stores/partners", []byte("v"))
	f.Add("", []byte{})
	f.Add("\xff", []byte("x"))
	f.Add("a/\x00/b", []byte("nul"))
	stores := []Store{NewMemory(), openTestBolt(f, f.TempDir()+"/store.db")}
	f.Fuzz(func(t *testing.T, key string, value []byte) {
		var accepted []bool
		for _, s := range stores {
			_, err := s.Txn(context.Background(), nil, []Op{{Key: key, Value: value}})
			accepted = append(accepted, err == nil)
			if err != nil {
				continue
			}
			kv, ok, _, err := s.Get(context.Background(), key)
			if err != nil || !ok || kv.Key != key || !bytes.Equal(kv.Value, value) {
				t.Fatalf("%T: Get(%q) = %+v, %v, %v after a Put", s, key, kv, ok, err)
			}
			kvs, _, err := s.Range(context.Background(), key)
			if err != nil || len(kvs) == 0 || kvs[0].Key != key {
				t.Fatalf("%T: Range(%q) = %+v, %v", s, key, kvs, err)
			}
		}
		if accepted[0] != accepted[1] {
			t.Fatalf("key %q: Memory accepted %v, Bolt %v", key, accepted[0], accepted[1])
		}
	})
}
