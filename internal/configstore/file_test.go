package configstore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileRefresh(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lb.yaml")
	writeFile(t, path, "v1")
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	ch, err := f.Watch(t.Context(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := receive(t, ch); string(got[0].KV.Value) != "v1" || got[0].KV.ModRevision != 1 {
		t.Fatalf("first watch event %+v, want v1 at revision 1", got)
	}

	steps := []struct {
		name    string
		edit    func(t *testing.T)
		changed bool
		wantErr bool
		want    string // content after the step
		rev     Revision
	}{
		{name: "unchanged", edit: func(*testing.T) {}, want: "v1", rev: 1},
		{name: "same bytes rewritten", edit: func(t *testing.T) { writeFile(t, path, "v1") }, want: "v1", rev: 1},
		{name: "edited", edit: func(t *testing.T) { writeFile(t, path, "v2") }, changed: true, want: "v2", rev: 2},
		{name: "removed", edit: func(t *testing.T) { os.Remove(path) }, wantErr: true, want: "v2", rev: 2},
		{name: "restored by rename", edit: func(t *testing.T) {
			tmp := path + ".tmp"
			writeFile(t, tmp, "v3")
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}, changed: true, want: "v3", rev: 3},
		{name: "emptied", edit: func(t *testing.T) { writeFile(t, path, "") }, changed: true, want: "", rev: 4},
	}
	for _, tc := range steps {
		t.Run(tc.name, func(t *testing.T) {
			tc.edit(t)
			changed, err := f.Refresh()
			if (err != nil) != tc.wantErr || changed != tc.changed {
				t.Fatalf("Refresh = %v, %v; want changed %v, error %v", changed, err, tc.changed, tc.wantErr)
			}
			kv, ok, rev, err := f.Get(t.Context(), FileConfigKey)
			if err != nil || !ok || rev != tc.rev || string(kv.Value) != tc.want || kv.ModRevision != tc.rev || kv.CreateRevision != 1 {
				t.Fatalf("Get = %+v, %v, %d, %v; want %q at revision %d", kv, ok, rev, err, tc.want, tc.rev)
			}
			if tc.changed {
				got := receive(t, ch)
				if string(got[0].KV.Value) != tc.want || got[0].KV.ModRevision != tc.rev {
					t.Errorf("watch event %+v, want %q at revision %d", got, tc.want, tc.rev)
				}
			}
		})
	}
}

func TestFileReadOnlyMessage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lb.yaml")
	writeFile(t, path, "x")
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	_, err = f.Txn(t.Context(), nil, []Op{put("k", "v")})
	if !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Txn = %v, want ErrReadOnly", err)
	}
	for _, want := range []string{path, "source of truth"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestOpenFileErrors(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	fh, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: costs no disk, and the reader stops at the limit.
	if err := fh.Truncate(MaxBlobBytes + 1); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	tests := []struct {
		name string
		path string
		is   error
	}{
		{name: "missing", path: filepath.Join(dir, "missing.yaml"), is: os.ErrNotExist},
		{name: "directory", path: dir},
		{name: "too large", path: big, is: ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := OpenFile(tc.path)
			if err == nil {
				f.Close()
				t.Fatal("OpenFile succeeded")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("OpenFile = %v, want %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}
