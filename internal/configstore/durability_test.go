package configstore

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// helperStoreEnv names the store file a TestHelperWriter child writes to;
// helperModeEnv, when "collect", makes it rotate blobs and collect them too.
const (
	helperStoreEnv = "MTLSLB_CONFIGSTORE_HELPER_STORE"
	helperModeEnv  = "MTLSLB_CONFIGSTORE_HELPER_MODE"
)

// TestBoltKillDuringWrites is issue 3 item 5: a process killed with SIGKILL in
// the middle of a stream of transactions loses none it acknowledged, applies none
// by halves, and leaves a store that opens. Two rounds, so the second child also
// writes on top of a store recovered from a kill. While the first child holds the
// file, a second open must fail clearly within about a second.
func TestBoltKillDuringWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	var acked []Revision
	for round := range 2 {
		acked = append(acked, killWriterAfter(t, path, 200, round == 0, "")...)
	}

	b := openTestBolt(t, path)
	ctx := t.Context()
	kvs, rev, err := b.Range(ctx, "w/")
	if err != nil {
		t.Fatalf("store does not read after the kills: %v", err)
	}
	if last := acked[len(acked)-1]; rev < last {
		t.Fatalf("store at revision %d, but revision %d was acknowledged", rev, last)
	}
	// Each transaction i wrote w/<i>/a and w/<i>/b: the revision is the number of
	// transactions applied exactly when every pair is whole.
	if len(kvs) != 2*int(rev) {
		t.Fatalf("revision %d but %d keys under w/: a transaction was half-applied or lost", rev, len(kvs))
	}
	for i, kv := range kvs {
		n := Revision(i/2 + 1)
		wantKey := fmt.Sprintf("w/%08d/%c", n, "ab"[i%2])
		if kv.Key != wantKey || string(kv.Value) != strconv.Itoa(int(n)) || kv.CreateRevision != n || kv.ModRevision != n {
			t.Fatalf("key %d is %s=%q (revisions %d/%d), want %s=%d at revision %d", i, kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, wantKey, n, n)
		}
	}
	// The pair keys are overwritten by every transaction: both must hold the last one.
	pair, _, err := b.Range(ctx, "pair/")
	if err != nil || len(pair) != 2 || !bytes.Equal(pair[0].Value, pair[1].Value) || string(pair[0].Value) != strconv.Itoa(int(rev)) {
		t.Fatalf("pair keys %+v (%v), want both at %d", pair, err, rev)
	}
	for _, a := range acked {
		if a > rev {
			t.Fatalf("acknowledged revision %d is beyond the store's %d", a, rev)
		}
	}
	t.Logf("%d acknowledged transactions over two kills; store at revision %d", len(acked), rev)
}

// killWriterAfter starts a TestHelperWriter child on path, reads at least n
// acknowledgements, kills it with SIGKILL and returns every acknowledgement it
// printed (including those still in the pipe when it died).
func killWriterAfter(t *testing.T, path string, n int, checkLock bool, mode string) []Revision {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperStoreEnv+"="+path, helperModeEnv+"="+mode)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The reader ends at EOF, which the kill (or the context's kill) guarantees.
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	next := func() (string, bool) {
		select {
		case line, ok := <-lines:
			return line, ok
		case <-ctx.Done():
			t.Fatalf("child gave no output in time; stderr:\n%s", stderr.String())
			return "", false
		}
	}

	var acked []Revision
	killed := false
	for {
		line, ok := next()
		if !ok {
			break
		}
		switch {
		case line == "open" && checkLock:
			start := time.Now()
			_, err := OpenBolt(path, BoltOptions{Timeout: time.Second})
			checkLockedError(t, err, path)
			elapsed := time.Since(start)
			if elapsed > 2*time.Second {
				t.Errorf("open of a held store took %v, want about 1s", elapsed)
			}
			t.Logf("open of the store held by the child failed after %v: %v", elapsed.Round(time.Millisecond), err)
		case strings.HasPrefix(line, "ack "):
			rev, err := strconv.ParseInt(strings.TrimPrefix(line, "ack "), 10, 64)
			if err != nil {
				t.Fatalf("child printed %q", line)
			}
			acked = append(acked, Revision(rev))
			if len(acked) >= n && !killed {
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				killed = true
			}
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child exited before %d acknowledgements (%d): %v; stderr:\n%s", n, len(acked), err, stderr.String())
	}
	for i := 1; i < len(acked); i++ {
		if acked[i] != acked[i-1]+1 {
			t.Fatalf("child acknowledged %d after %d", acked[i], acked[i-1])
		}
	}
	return acked
}

// TestHelperWriter is the child process of TestBoltKillDuringWrites; run
// directly, it skips. It writes until killed, printing each revision after Txn
// has returned, i.e. after the commit is on disk.
func TestHelperWriter(t *testing.T) {
	path := os.Getenv(helperStoreEnv)
	if path == "" {
		t.Skip("runs only as the child process of TestBoltKillDuringWrites")
	}
	b, err := OpenBolt(path, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, rev, err := b.Range(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("open")
	// Bounded so that an orphaned child stops by itself.
	deadline := time.Now().Add(30 * time.Second)
	if os.Getenv(helperModeEnv) == "collect" {
		writeAndCollect(t, b, rev, deadline)
		return
	}
	for i := int(rev) + 1; i <= int(rev)+100_000 && time.Now().Before(deadline); i++ {
		v := strconv.Itoa(i)
		got, err := b.Txn(context.Background(), nil, []Op{
			put(fmt.Sprintf("w/%08d/a", i), v),
			put(fmt.Sprintf("w/%08d/b", i), v),
			put("pair/a", v),
			put("pair/b", v),
		})
		if err != nil {
			t.Fatal(err)
		}
		if got != Revision(i) {
			t.Fatalf("Txn %d got revision %d", i, got)
		}
		fmt.Printf("ack %d\n", got)
	}
}

// TestBoltKillDuringCollection kills a process that rotates blobs and collects
// the old ones with no grace period, so that a kill lands inside puts, Txns and
// collections alike. Afterwards every blob a value names must be stored and
// intact, and the unnamed ones must not have piled up.
func TestBoltKillDuringCollection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	var acked []Revision
	for range 2 {
		acked = append(acked, killWriterAfter(t, path, 60, false, "collect")...)
	}
	b := openTestBolt(t, path)
	ctx := t.Context()
	kvs, rev, err := b.Range(ctx, "")
	if err != nil {
		t.Fatalf("store does not read after the kills: %v", err)
	}
	if last := acked[len(acked)-1]; rev < last {
		t.Fatalf("store at revision %d, but revision %d was acknowledged", rev, last)
	}
	named := 0
	for _, kv := range kvs {
		blobRefs(kv.Value, func(d []byte) {
			named++
			if _, err := b.GetBlob(ctx, string(d)); err != nil {
				t.Errorf("key %s names blob %s: %v", kv.Key, d, err)
			}
		})
	}
	if named == 0 {
		t.Fatal("no value names a blob: the child wrote nothing to check")
	}
	res := collect(t, b, at(0))
	if stored := res.Referenced + res.Waiting; stored > 4 {
		t.Errorf("%d blobs stored after %d rotations (%+v): collection did not keep up", stored, len(acked), res)
	}
	t.Logf("%d acknowledged rotations over two kills; store at revision %d holds %+v", len(acked), rev, res)
}

// writeAndCollect is TestHelperWriter's "collect" mode: each round puts a new
// blob of four chunks, names it in place of the previous one (acknowledged once
// the Txn returns), and runs a collection pass with no grace period.
func writeAndCollect(t *testing.T, b *Bolt, rev Revision, deadline time.Time) {
	ctx := context.Background()
	for i := int(rev) + 1; i <= int(rev)+100_000 && time.Now().Before(deadline); i++ {
		blob := bytes.Repeat([]byte(strconv.Itoa(i)+" "), 4*blobChunkSize/8)
		digest, err := b.PutBlob(ctx, blob)
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.Txn(ctx, nil, []Op{names("truststores/rotating", digest)})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("ack %d\n", got)
		if _, err := b.CollectBlobs(ctx, time.Now(), 0); err != nil {
			t.Fatal(err)
		}
	}
}
