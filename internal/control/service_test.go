package control_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/config"
	"github.com/mtlslb/mtlslb/internal/configstore"
	"github.com/mtlslb/mtlslb/internal/control"
	"github.com/mtlslb/mtlslb/internal/engine"
	"github.com/mtlslb/mtlslb/internal/pki"
	"github.com/mtlslb/mtlslb/internal/testpki"
)

// compileCheck is the Check that `mtlslb serve --data-dir` installs: the whole document compiled as the
// engine would compile it.
func compileCheck(doc *config.Document, readFile func(string) ([]byte, error)) error {
	_, err := engine.Compile(doc, engine.CompileOptions{ReadFile: readFile}, nil)
	return err
}

// checkModes are the two ways a Service runs: with only the document's own validation, and with the full
// compile of serve.
var checkModes = []struct {
	name  string
	check func(*config.Document, func(string) ([]byte, error)) error
}{
	{"validate-only", nil},
	{"compile", compileCheck},
}

// fixture is a Service over a Memory store, with a data directory holding a listener's certificate files.
type fixture struct {
	svc   *control.Service
	mem   *configstore.Memory
	dir   string
	ca    *testpki.CA
	inter *testpki.CA
	now   time.Time
}

func newFixture(t testing.TB, check func(*config.Document, func(string) ([]byte, error)) error) *fixture {
	t.Helper()
	ca := testpki.NewCA(t)
	f := &fixture{mem: configstore.NewMemory(), dir: t.TempDir(), ca: ca, inter: ca.Intermediate(t, "Partner Issuing CA"),
		now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	t.Cleanup(func() { _ = f.mem.Close() })
	if _, err := ca.Server(t, "127.0.0.1").WriteFiles(f.dir, "server"); err != nil {
		t.Fatal(err)
	}
	f.svc = f.service(f.mem, check)
	return f
}

// service returns a Service over store sharing f's data directory and clock.
func (f *fixture) service(store configstore.Store, check func(*config.Document, func(string) ([]byte, error)) error) *control.Service {
	return control.New(control.Options{Store: store, Dir: f.dir, ReadFile: os.ReadFile, Check: check,
		Now: func() time.Time { return f.now }})
}

// revision is the store's current revision: it moves on every committed write and only then.
func (f *fixture) revision(t testing.TB) configstore.Revision {
	t.Helper()
	_, rev, err := f.mem.Range(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

// blobStored reports whether data is in the blob store.
func (f *fixture) blobStored(t testing.TB, data []byte) bool {
	t.Helper()
	_, err := f.mem.GetBlob(context.Background(), digest(data))
	switch {
	case err == nil:
		return true
	case errors.Is(err, configstore.ErrBlobNotFound):
		return false
	}
	t.Fatal(err)
	return false
}

func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// create creates a trust store that must be accepted.
func (f *fixture) create(t testing.TB, name string, bundle []byte, crls ...control.Upload) *control.TrustStore {
	t.Helper()
	ts, err := f.svc.CreateTrustStore(context.Background(), name, control.Upload{Name: "bundle.pem", Data: bundle}, crls)
	if err != nil {
		t.Fatalf("CreateTrustStore(%q): %v", name, err)
	}
	return ts
}

// document is a stored document (no trust stores) with one verify-mode listener per trust store name; no
// names gives a document whose only listener does not authenticate clients.
func document(trustStores ...string) []byte {
	var b strings.Builder
	b.WriteString("listeners:\n")
	if len(trustStores) == 0 {
		trustStores = []string{""}
	}
	for i, ts := range trustStores {
		fmt.Fprintf(&b, "  - port: %d\n    protocol: HTTPS\n", 8443+i)
		b.WriteString("    certificates:\n      - { certificate: server.pem, private_key: server-key.pem }\n")
		if ts != "" {
			fmt.Fprintf(&b, "    mutual_authentication: { mode: verify, trust_store: %s }\n", ts)
		}
		b.WriteString("    default_actions:\n      - { type: forward, target_group: app }\n")
	}
	b.WriteString("target_groups:\n  - name: app\n    targets: [{ id: 127.0.0.1, port: 8080 }]\n")
	return []byte(b.String())
}

func crlUpload(name string, data []byte) control.Upload {
	return control.Upload{Name: name, Data: data}
}

// wantCode fails unless err is a *control.Error with code whose message holds every one of want.
func wantCode(t testing.TB, err error, code string, want ...string) *control.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	var e *control.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %T %v, want a *control.Error %s", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("got code %s (%s), want %s", e.Code, e.Message, code)
	}
	if e.Status < 400 || e.Status >= 500 {
		t.Errorf("%s: status %d, want a 4xx", e.Code, e.Status)
	}
	for _, w := range want {
		if !strings.Contains(e.Message, w) {
			t.Errorf("%s message %q does not contain %q", e.Code, e.Message, w)
		}
	}
	return e
}

func revocationIDs(revs []control.Revocation) []int64 {
	ids := make([]int64, len(revs))
	for i, r := range revs {
		ids[i] = r.ID
	}
	return ids
}

// lineCount is the number of lines of a bundle that ends in a newline.
func lineCount(b []byte) int { return bytes.Count(b, []byte("\n")) }

func TestCreateTrustStore(t *testing.T) {
	f := newFixture(t, nil)
	leaf := f.inter.Client(t, "revoked")
	interCRL := f.inter.CRL(t, leaf.Cert)
	rootCRL := f.ca.CRL(t, f.inter.Cert)
	twoCAs := append(f.ca.BundlePEM(), pki.EncodeCertsPEM(f.inter.Cert)...)

	tests := []struct {
		name      string
		bundle    []byte
		crls      []control.Upload
		wantCAs   int
		wantIDs   []int64
		wantTotal int
	}{
		{name: "a", bundle: f.ca.BundlePEM(), wantCAs: 1, wantIDs: []int64{}},
		{name: strings.Repeat("x", 32), bundle: f.ca.BundlePEM(), wantCAs: 1, wantIDs: []int64{}},
		{name: "Partners-2-EU", bundle: twoCAs, wantCAs: 2, wantIDs: []int64{}},
		{
			name:   "with-crls",
			bundle: f.ca.BundlePEM(),
			// The intermediate's CRL (issuer not in the bundle: checked at handshake time) as PEM, the
			// root's (issuer in the bundle: its signature checked now) as DER.
			crls:      []control.Upload{crlUpload("inter.crl", pki.EncodeCRLPEM(interCRL)), crlUpload("root.crl", rootCRL)},
			wantCAs:   1,
			wantIDs:   []int64{1, 2},
			wantTotal: 2,
		},
		{
			name: "commented-crlf",
			// Comments without hyphens and CRLF line ends are allowed.
			bundle:  append([]byte("# partner roots\r\n"), bytes.ReplaceAll(f.ca.BundlePEM(), []byte("\n"), []byte("\r\n"))...),
			wantCAs: 1, wantIDs: []int64{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.revision(t)
			ts := f.create(t, tt.name, tt.bundle, tt.crls...)
			if got := f.revision(t); got != before+1 {
				t.Errorf("revision %d after create, want %d (one transaction)", got, before+1)
			}
			if ts.Name != tt.name || ts.CACertificatesBundle != digest(tt.bundle) || ts.BundleSource != "bundle.pem" {
				t.Errorf("created %q bundle %s source %q, want %q %s bundle.pem", ts.Name, ts.CACertificatesBundle, ts.BundleSource, tt.name, digest(tt.bundle))
			}
			if ts.NumberOfCACertificates != tt.wantCAs || ts.TotalRevokedEntries != tt.wantTotal {
				t.Errorf("%d CAs %d revoked entries, want %d %d", ts.NumberOfCACertificates, ts.TotalRevokedEntries, tt.wantCAs, tt.wantTotal)
			}
			if !ts.CreatedAt.Equal(f.now) || !ts.UpdatedAt.Equal(f.now) {
				t.Errorf("created %v updated %v, want the injected clock %v", ts.CreatedAt, ts.UpdatedAt, f.now)
			}
			got, err := f.svc.DescribeTrustStores(context.Background(), tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || !slices.Equal(revocationIDs(got[0].Revocations), tt.wantIDs) {
				t.Fatalf("described %+v, want one trust store with revocation ids %v", got, tt.wantIDs)
			}
			if want := int64(len(tt.wantIDs)) + 1; got[0].NextRevocationID != want {
				t.Errorf("next revocation id %d, want %d", got[0].NextRevocationID, want)
			}
			for i, r := range got[0].Revocations {
				if r.Type != "CRL" || r.Content != digest(tt.crls[i].Data) || r.Source != tt.crls[i].Name ||
					r.NumberOfRevokedEntries != 1 || r.Issuer == "" || r.ThisUpdate.IsZero() || r.NextUpdate == nil {
					t.Errorf("revocation %d: %+v", r.ID, r)
				}
			}
		})
	}

	all, err := f.svc.DescribeTrustStores(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(tests) {
		t.Errorf("DescribeTrustStores(\"\") gave %d trust stores, want %d", len(all), len(tests))
	}
}

func TestCreateTrustStoreRefused(t *testing.T) {
	f := newFixture(t, nil)
	f.create(t, "partners", f.ca.BundlePEM())

	// fresh is a CA nothing in the store uses, so that a refusal can be seen to leave no blob behind.
	fresh := testpki.NewCA(t)
	good := fresh.BundlePEM()
	leafPEM := pki.EncodeCertsPEM(fresh.Client(t, "not-a-ca").Cert)
	// impostor has the bundle CA's name and a key of its own: its CRL names an issuer in the bundle but its
	// signature is not the bundle CA's.
	impostor, err := pki.NewRoot(pkix.Name{CommonName: fresh.Cert.Subject.CommonName})
	if err != nil {
		t.Fatal(err)
	}
	forged, err := impostor.CRL(nil)
	if err != nil {
		t.Fatal(err)
	}
	tooMany := make([]control.Upload, 31)
	for i := range tooMany {
		tooMany[i] = crlUpload(fmt.Sprintf("c%d.crl", i+1), fresh.CRL(t))
	}

	tests := []struct {
		name     string
		tsName   string
		bundle   []byte
		crls     []control.Upload
		wantCode string
		wantMsg  []string
	}{
		{name: "duplicate", tsName: "partners", bundle: good, wantCode: control.CodeDuplicateTrustStoreName, wantMsg: []string{`"partners"`}},
		{name: "empty-name", tsName: "", bundle: good, wantCode: control.CodeValidationError},
		{name: "33-characters", tsName: strings.Repeat("a", 33), bundle: good, wantCode: control.CodeValidationError},
		{name: "leading-hyphen", tsName: "-partners", bundle: good, wantCode: control.CodeValidationError},
		{name: "trailing-hyphen", tsName: "partners-", bundle: good, wantCode: control.CodeValidationError},
		{name: "double-hyphen", tsName: "part--ners", bundle: good, wantCode: control.CodeValidationError},
		{name: "underscore", tsName: "part_ners", bundle: good, wantCode: control.CodeValidationError},
		{name: "dot", tsName: "part.ners", bundle: good, wantCode: control.CodeValidationError},
		{name: "space", tsName: "part ners", bundle: good, wantCode: control.CodeValidationError},
		{name: "slash", tsName: "part/ners", bundle: good, wantCode: control.CodeValidationError},
		{name: "non-ascii-letter", tsName: "partnérs", bundle: good, wantCode: control.CodeValidationError},
		{
			name: "blank-line", tsName: "new", bundle: append([]byte("# roots\n\n"), good...),
			wantCode: control.CodeInvalidCaCertificates, wantMsg: []string{"bundle.pem", "line 2", "blank lines"},
		},
		{
			name: "comment-with-hyphen", tsName: "new", bundle: append([]byte("# partner-roots\n"), good...),
			wantCode: control.CodeInvalidCaCertificates, wantMsg: []string{"line 1", "comment"},
		},
		{
			name: "non-ca-certificate", tsName: "new", bundle: append(slices.Clone(good), leafPEM...),
			wantCode: control.CodeInvalidCaCertificates,
			wantMsg:  []string{fmt.Sprintf("certificate 2 (line %d)", lineCount(good)+1), "not a CA certificate"},
		},
		{
			name: "garbage", tsName: "new", bundle: []byte("this is not a certificate\n"),
			wantCode: control.CodeInvalidCaCertificates, wantMsg: []string{"line 1", "text outside"},
		},
		{
			name: "text-dump", tsName: "new", bundle: append([]byte("Certificate:\n    Data:\n"), good...),
			wantCode: control.CodeInvalidCaCertificates, wantMsg: []string{"line 1"},
		},
		{
			name: "private-key-block", tsName: "new",
			bundle:   append(slices.Clone(good), []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")...),
			wantCode: control.CodeInvalidCaCertificates, wantMsg: []string{fmt.Sprintf("line %d", lineCount(good)+1), "PRIVATE KEY"},
		},
		{
			name: "truncated", tsName: "new", bundle: good[:len(good)/2],
			wantCode: control.CodeInvalidCaCertificates, wantMsg: []string{"certificate 1 (line 1)", "truncated"},
		},
		{name: "empty-bundle", tsName: "new", bundle: nil, wantCode: control.CodeInvalidCaCertificates, wantMsg: []string{"no certificate"}},
		{
			name: "crl-garbage", tsName: "new", bundle: good,
			crls:     []control.Upload{crlUpload("ok.crl", fresh.CRL(t)), crlUpload("junk.crl", []byte("not a CRL at all"))},
			wantCode: control.CodeInvalidRevocationContent, wantMsg: []string{"junk.crl", "revocation 2"},
		},
		{
			name: "crl-pem-garbage", tsName: "new", bundle: good,
			crls:     []control.Upload{crlUpload("junk.crl", []byte("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"))},
			wantCode: control.CodeInvalidRevocationContent, wantMsg: []string{"junk.crl", "revocation 1"},
		},
		{
			name: "crl-signed-by-another-key", tsName: "new", bundle: good,
			crls:     []control.Upload{crlUpload("forged.crl", forged)},
			wantCode: control.CodeInvalidRevocationContent, wantMsg: []string{"forged.crl", "revocation 1"},
		},
		{
			name: "31-crls", tsName: "new", bundle: good, crls: tooMany,
			wantCode: control.CodeTooManyRevocationEntries, wantMsg: []string{"c31.crl", "revocation 31", "30"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.revision(t)
			ts, err := f.svc.CreateTrustStore(context.Background(), tt.tsName, control.Upload{Name: "bundle.pem", Data: tt.bundle}, tt.crls)
			if ts != nil {
				t.Errorf("refused create returned a trust store: %+v", ts)
			}
			wantCode(t, err, tt.wantCode, tt.wantMsg...)
			if got := f.revision(t); got != before {
				t.Errorf("revision went from %d to %d: a refused create wrote", before, got)
			}
			for _, data := range append([][]byte{tt.bundle}, uploadData(tt.crls)...) {
				if len(data) > 0 && f.blobStored(t, data) {
					t.Errorf("a refused create left a blob behind (%d bytes)", len(data))
				}
			}
		})
	}
	all, err := f.svc.DescribeTrustStores(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].Name != "partners" || all[0].CACertificatesBundle != digest(f.ca.BundlePEM()) {
		t.Errorf("after the refusals the store holds %+v, want only the original partners", all)
	}
}

func uploadData(us []control.Upload) [][]byte {
	out := make([][]byte, len(us))
	for i, u := range us {
		out[i] = u.Data
	}
	return out
}

func TestRevocationIDsNeverReused(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	f.create(t, "partners", f.ca.BundlePEM())
	crls := make([][]byte, 6)
	for i := range crls {
		crls[i] = f.inter.CRL(t, f.inter.Client(t, fmt.Sprintf("client-%d", i)).Cert)
	}

	add := func(t *testing.T, want []int64, data ...[]byte) {
		t.Helper()
		var ups []control.Upload
		for i, d := range data {
			ups = append(ups, crlUpload(fmt.Sprintf("crl-%d", i), d))
		}
		added, err := f.svc.AddRevocations(ctx, "partners", ups)
		if err != nil {
			t.Fatalf("AddRevocations: %v", err)
		}
		if got := revocationIDs(added); !slices.Equal(got, want) {
			t.Fatalf("added ids %v, want %v", got, want)
		}
	}
	describe := func(t *testing.T, want ...int64) {
		t.Helper()
		revs, err := f.svc.DescribeRevocations(ctx, "partners")
		if err != nil {
			t.Fatal(err)
		}
		if got := revocationIDs(revs); !slices.Equal(got, want) {
			t.Fatalf("described ids %v, want %v", got, want)
		}
		ts, err := f.svc.DescribeTrustStores(ctx, "partners")
		if err != nil {
			t.Fatal(err)
		}
		if ts[0].TotalRevokedEntries != len(want) {
			t.Errorf("total revoked entries %d, want %d (one per CRL)", ts[0].TotalRevokedEntries, len(want))
		}
	}

	add(t, []int64{1}, crls[0])
	add(t, []int64{2, 3}, crls[1], crls[2])
	describe(t, 1, 2, 3)
	if err := f.svc.RemoveRevocations(ctx, "partners", []int64{2}); err != nil {
		t.Fatal(err)
	}
	describe(t, 1, 3)
	add(t, []int64{4}, crls[3])
	describe(t, 1, 3, 4)
	// Removing the newest must not hand its id out again either.
	if err := f.svc.RemoveRevocations(ctx, "partners", []int64{4}); err != nil {
		t.Fatal(err)
	}
	add(t, []int64{5}, crls[4])
	describe(t, 1, 3, 5)

	refusals := []struct {
		name     string
		run      func() error
		wantCode string
		wantMsg  []string
	}{
		{"remove-removed", func() error { return f.svc.RemoveRevocations(ctx, "partners", []int64{2}) }, control.CodeRevocationIDNotFound, []string{"2"}},
		{"remove-never-given", func() error { return f.svc.RemoveRevocations(ctx, "partners", []int64{6}) }, control.CodeRevocationIDNotFound, []string{"6"}},
		// One unknown id refuses the whole request: revocation 1 stays.
		{"remove-known-and-unknown", func() error { return f.svc.RemoveRevocations(ctx, "partners", []int64{1, 99}) }, control.CodeRevocationIDNotFound, []string{"99"}},
		{"remove-missing-store", func() error { return f.svc.RemoveRevocations(ctx, "nobody", []int64{1}) }, control.CodeTrustStoreNotFound, []string{`"nobody"`}},
		{"content-of-removed", func() error { _, err := f.svc.GetRevocationContent(ctx, "partners", 2); return err }, control.CodeRevocationIDNotFound, nil},
		{"add-none", func() error { _, err := f.svc.AddRevocations(ctx, "partners", nil); return err }, control.CodeValidationError, nil},
		{"add-missing-store", func() error {
			_, err := f.svc.AddRevocations(ctx, "nobody", []control.Upload{crlUpload("a.crl", crls[5])})
			return err
		}, control.CodeTrustStoreNotFound, nil},
		{"add-garbage", func() error {
			_, err := f.svc.AddRevocations(ctx, "partners", []control.Upload{crlUpload("ok.crl", crls[5]), crlUpload("bad.crl", []byte{0x30, 0x03, 0x02, 0x01})})
			return err
		}, control.CodeInvalidRevocationContent, []string{"bad.crl", "revocation 7"}},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			before := f.revision(t)
			wantCode(t, tt.run(), tt.wantCode, tt.wantMsg...)
			if got := f.revision(t); got != before {
				t.Errorf("revision went from %d to %d: a refusal wrote", before, got)
			}
		})
	}
	describe(t, 1, 3, 5)
	// A refused add consumes no id.
	add(t, []int64{6}, crls[5])
}

func TestTooManyRevocations(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	crls := make([]control.Upload, 30)
	for i := range crls {
		crls[i] = crlUpload(fmt.Sprintf("c%d.crl", i+1), f.inter.CRL(t))
	}
	f.create(t, "partners", f.ca.BundlePEM(), crls...)
	extra := crlUpload("extra.crl", f.ca.CRL(t))

	before := f.revision(t)
	_, err := f.svc.AddRevocations(ctx, "partners", []control.Upload{extra})
	wantCode(t, err, control.CodeTooManyRevocationEntries, "extra.crl", "revocation 31", "30")
	if got := f.revision(t); got != before {
		t.Errorf("revision went from %d to %d: a refused add wrote", before, got)
	}
	// The limit counts the lists held, not the ids ever given.
	if err := f.svc.RemoveRevocations(ctx, "partners", []int64{7}); err != nil {
		t.Fatal(err)
	}
	added, err := f.svc.AddRevocations(ctx, "partners", []control.Upload{extra})
	if err != nil {
		t.Fatal(err)
	}
	if got := revocationIDs(added); !slices.Equal(got, []int64{31}) {
		t.Errorf("added ids %v, want [31]", got)
	}
}

func TestModifyTrustStoreAndContent(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	interCRLPEM := pki.EncodeCRLPEM(f.inter.CRL(t))
	rootCRLDER := f.ca.CRL(t, f.inter.Cert)
	f.create(t, "partners", f.ca.BundlePEM(), crlUpload("inter.crl", interCRLPEM), crlUpload("root.crl", rootCRLDER))

	// A byte-exact round trip: a comment, CRLF line ends, two certificates, no final newline.
	other := testpki.NewCA(t)
	replacement := []byte("# replacement roots\r\n")
	replacement = append(replacement, bytes.ReplaceAll(other.BundlePEM(), []byte("\n"), []byte("\r\n"))...)
	replacement = append(replacement, bytes.TrimSuffix(f.ca.BundlePEM(), []byte("\n"))...)

	f.now = f.now.Add(time.Hour)
	ts, err := f.svc.ModifyTrustStore(ctx, "partners", control.Upload{Name: "new.pem", Data: replacement})
	if err != nil {
		t.Fatal(err)
	}
	if ts.CACertificatesBundle != digest(replacement) || ts.BundleSource != "new.pem" || ts.NumberOfCACertificates != 2 {
		t.Errorf("modified: bundle %s source %q %d CAs, want %s new.pem 2", ts.CACertificatesBundle, ts.BundleSource, ts.NumberOfCACertificates, digest(replacement))
	}
	if !ts.UpdatedAt.Equal(f.now) || ts.CreatedAt.Equal(f.now) {
		t.Errorf("created %v updated %v: modify must move only updated_at", ts.CreatedAt, ts.UpdatedAt)
	}
	got, err := f.svc.GetCABundle(ctx, "partners")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, replacement) {
		t.Errorf("GetCABundle returned %d bytes, not the %d uploaded", len(got), len(replacement))
	}
	if ids := revocationIDs(ts.Revocations); !slices.Equal(ids, []int64{1, 2}) {
		t.Errorf("modify changed the revocations: ids %v", ids)
	}
	for id, want := range map[int64][]byte{1: interCRLPEM, 2: rootCRLDER} {
		got, err := f.svc.GetRevocationContent(ctx, "partners", id)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("GetRevocationContent(%d) returned %d bytes, not the %d uploaded", id, len(got), len(want))
		}
	}

	// The bundle is replaced whole: a new one without the first CA leaves only the new CA.
	only := other.BundlePEM()
	ts, err = f.svc.ModifyTrustStore(ctx, "partners", control.Upload{Name: "only.pem", Data: only})
	if err != nil {
		t.Fatal(err)
	}
	if ts.NumberOfCACertificates != 1 {
		t.Errorf("%d CAs after replacing with a one-CA bundle", ts.NumberOfCACertificates)
	}

	refusals := []struct {
		name     string
		tsName   string
		bundle   []byte
		wantCode string
		wantMsg  []string
	}{
		{"missing", "nobody", only, control.CodeTrustStoreNotFound, []string{`"nobody"`}},
		{"blank-line", "partners", append(slices.Clone(only), '\n'), control.CodeInvalidCaCertificates, []string{"bad.pem", fmt.Sprintf("line %d", lineCount(only)+1)}},
		{"garbage", "partners", []byte{0xff, 0xfe, 0x00}, control.CodeInvalidCaCertificates, []string{"line 1"}},
		{"empty", "partners", nil, control.CodeInvalidCaCertificates, nil},
		// The root's CRL (revocation 2) names the root: once the root is back in the bundle its signature
		// is checked, and an impostor of the same name must not pass.
		{"crl-issuer-impostor", "partners", impostorBundle(t, f.ca), control.CodeInvalidRevocationContent, []string{"revocation 2"}},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			before := f.revision(t)
			_, err := f.svc.ModifyTrustStore(ctx, tt.tsName, control.Upload{Name: "bad.pem", Data: tt.bundle})
			wantCode(t, err, tt.wantCode, tt.wantMsg...)
			if got := f.revision(t); got != before {
				t.Errorf("revision went from %d to %d: a refused modify wrote", before, got)
			}
			if got, err := f.svc.GetCABundle(ctx, "partners"); err != nil || !bytes.Equal(got, only) {
				t.Errorf("after a refused modify the bundle is %d bytes (err %v), want the previous one", len(got), err)
			}
		})
	}

	for _, name := range []string{"nobody"} {
		if _, err := f.svc.GetCABundle(ctx, name); err == nil {
			t.Errorf("GetCABundle(%q) succeeded", name)
		} else {
			wantCode(t, err, control.CodeTrustStoreNotFound)
		}
		_, err := f.svc.GetRevocationContent(ctx, name, 1)
		wantCode(t, err, control.CodeTrustStoreNotFound)
		_, err = f.svc.DescribeRevocations(ctx, name)
		wantCode(t, err, control.CodeTrustStoreNotFound)
		_, err = f.svc.DescribeTrustStores(ctx, name)
		wantCode(t, err, control.CodeTrustStoreNotFound)
		wantCode(t, f.svc.DeleteTrustStore(ctx, name), control.CodeTrustStoreNotFound)
	}
}

// impostorBundle is a bundle holding a CA certificate with ca's name and another key.
func impostorBundle(t testing.TB, ca *testpki.CA) []byte {
	t.Helper()
	a, err := pki.NewRoot(ca.Cert.Subject)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Cert.RawSubject, ca.Cert.RawSubject) {
		t.Fatal("the impostor's subject is not byte-equal to the CA's")
	}
	return pki.EncodeCertsPEM(a.Cert)
}

func TestPutConfig(t *testing.T) {
	for _, mode := range checkModes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, mode.check)
			f.create(t, "partners", f.ca.BundlePEM(), crlUpload("inter.crl", f.inter.CRL(t)))

			if _, _, ok, err := f.svc.GetConfig(ctx); err != nil || ok {
				t.Fatalf("GetConfig before any put: ok %v err %v, want none", ok, err)
			}
			// If-Match 0: "there is no document yet".
			zero := configstore.Revision(0)
			doc := document("partners")
			rev, err := f.svc.PutConfig(ctx, doc, &zero)
			if err != nil {
				t.Fatalf("PutConfig(If-Match 0) with no document: %v", err)
			}
			data, gotRev, ok, err := f.svc.GetConfig(ctx)
			if err != nil || !ok || gotRev != rev || !bytes.Equal(data, doc) {
				t.Fatalf("GetConfig: rev %d (want %d) ok %v err %v, same bytes %v", gotRev, rev, ok, err, bytes.Equal(data, doc))
			}

			refusals := []struct {
				name     string
				doc      []byte
				ifMatch  *configstore.Revision
				wantCode string
				wantMsg  []string
			}{
				{"missing-trust-store", document("partners", "nobody"), nil, control.CodeInvalidConfiguration,
					[]string{"listeners[1].mutual_authentication.trust_store", "nobody"}},
				{"lists-trust-stores", append([]byte("trust_stores:\n  - { name: own, ca_certificates_bundle: ca.pem }\n"), document()...), nil,
					control.CodeInvalidConfiguration, []string{"trust_stores"}},
				{"not-a-document", []byte("listeners: 42\n"), nil, control.CodeInvalidConfiguration, []string{"listeners"}},
				{"unknown-key", append([]byte("colour: blue\n"), document()...), nil, control.CodeInvalidConfiguration, []string{"colour"}},
				{"stale-if-match", document(), ptr(rev - 1), control.CodePreconditionFailed, []string{fmt.Sprint(rev)}},
				{"if-match-0-when-one-exists", document(), &zero, control.CodePreconditionFailed, nil},
				{"future-if-match", document(), ptr(rev + 100), control.CodePreconditionFailed, nil},
			}
			for _, tt := range refusals {
				t.Run(tt.name, func(t *testing.T) {
					before := f.revision(t)
					_, err := f.svc.PutConfig(ctx, tt.doc, tt.ifMatch)
					wantCode(t, err, tt.wantCode, tt.wantMsg...)
					if got := f.revision(t); got != before {
						t.Errorf("revision went from %d to %d: a refused put wrote", before, got)
					}
				})
			}

			// The current ETag replaces the document.
			next, err := f.svc.PutConfig(ctx, document(), &rev)
			if err != nil {
				t.Fatalf("PutConfig(If-Match current): %v", err)
			}
			if next <= rev {
				t.Errorf("revision %d after put, want more than %d", next, rev)
			}
			// JSON is a document too.
			if _, err := f.svc.PutConfig(ctx, []byte(`{"listeners": [], "target_groups": []}`), nil); err != nil {
				t.Errorf("PutConfig(JSON): %v", err)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestPutConfigCompiles shows what Options.Check adds: a document that validates but would not compile is
// refused only when the full compile runs.
func TestPutConfigCompiles(t *testing.T) {
	missingCert := bytes.ReplaceAll(document(), []byte("certificate: server.pem"), []byte("certificate: nowhere.pem"))
	for _, mode := range checkModes {
		t.Run(mode.name, func(t *testing.T) {
			f := newFixture(t, mode.check)
			_, err := f.svc.PutConfig(context.Background(), missingCert, nil)
			if mode.check == nil {
				if err != nil {
					t.Errorf("validate-only refused a document whose files it does not read: %v", err)
				}
				return
			}
			wantCode(t, err, control.CodeInvalidConfiguration, "listeners[0]", "nowhere.pem")
			if rev := f.revision(t); rev != 0 {
				t.Errorf("revision %d after a refused put, want 0", rev)
			}
		})
	}
}

func TestPutConfigConcurrentIfMatch(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	rev, err := f.svc.PutConfig(ctx, document(), nil)
	if err != nil {
		t.Fatal(err)
	}
	const writers = 8
	var wins atomic.Int32
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			doc := append([]byte(fmt.Sprintf("name: writer-%d\n", i)), document()...)
			if _, err := f.svc.PutConfig(ctx, doc, &rev); err != nil {
				errs <- err
				return
			}
			wins.Add(1)
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	if got := wins.Load(); got != 1 {
		t.Errorf("%d writers won with the same If-Match, want exactly 1", got)
	}
	for err := range errs {
		wantCode(t, err, control.CodePreconditionFailed)
	}
	if got := f.revision(t); got != rev+1 {
		t.Errorf("revision %d, want %d (one write)", got, rev+1)
	}
}

func TestDeleteTrustStoreInUse(t *testing.T) {
	for _, mode := range checkModes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, mode.check)
			f.create(t, "partners", f.ca.BundlePEM())
			f.create(t, "spare", testpki.NewCA(t).BundlePEM())

			assoc, err := f.svc.DescribeAssociations(ctx, "partners")
			if err != nil || len(assoc) != 0 {
				t.Fatalf("associations with no document: %v %v, want none", assoc, err)
			}
			if _, err := f.svc.PutConfig(ctx, document("spare", "partners", "partners"), nil); err != nil {
				t.Fatal(err)
			}
			assoc, err = f.svc.DescribeAssociations(ctx, "partners")
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"listeners[1] (*:8444)", "listeners[2] (*:8445)"}; !slices.Equal(assoc, want) {
				t.Errorf("associations %q, want %q", assoc, want)
			}
			_, err = f.svc.DescribeAssociations(ctx, "nobody")
			wantCode(t, err, control.CodeTrustStoreNotFound)

			before := f.revision(t)
			wantCode(t, f.svc.DeleteTrustStore(ctx, "partners"), control.CodeTrustStoreInUse, `"partners"`, "listeners[1] (*:8444)", "listeners[2]")
			if got := f.revision(t); got != before {
				t.Errorf("revision went from %d to %d: a refused delete wrote", before, got)
			}

			// In use, the trust store still takes changes that keep the document valid.
			if _, err := f.svc.AddRevocations(ctx, "partners", []control.Upload{crlUpload("inter.crl", f.inter.CRL(t))}); err != nil {
				t.Errorf("AddRevocations on a trust store in use: %v", err)
			}
			if _, err := f.svc.ModifyTrustStore(ctx, "partners", control.Upload{Name: "b.pem", Data: testpki.NewCA(t).BundlePEM()}); err != nil {
				t.Errorf("ModifyTrustStore on a trust store in use: %v", err)
			}
			if err := f.svc.RemoveRevocations(ctx, "partners", []int64{1}); err != nil {
				t.Errorf("RemoveRevocations on a trust store in use: %v", err)
			}

			if _, err := f.svc.PutConfig(ctx, document("spare"), nil); err != nil {
				t.Fatal(err)
			}
			if assoc, err := f.svc.DescribeAssociations(ctx, "partners"); err != nil || len(assoc) != 0 {
				t.Errorf("associations after the document stopped naming it: %q %v", assoc, err)
			}
			if err := f.svc.DeleteTrustStore(ctx, "partners"); err != nil {
				t.Fatalf("DeleteTrustStore after the document stopped naming it: %v", err)
			}
			_, err = f.svc.DescribeTrustStores(ctx, "partners")
			wantCode(t, err, control.CodeTrustStoreNotFound)
			wantCode(t, f.svc.DeleteTrustStore(ctx, "partners"), control.CodeTrustStoreNotFound)
			// A deleted name is free again.
			f.create(t, "partners", f.ca.BundlePEM())
		})
	}
}

func TestDocument(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, compileCheck)
	if doc, _, err := f.svc.Document(ctx); err != nil || doc != nil {
		t.Fatalf("Document with an empty store: %v %v, want nil", doc, err)
	}
	crl1, crl2, crl3 := f.inter.CRL(t), pki.EncodeCRLPEM(f.ca.CRL(t)), f.inter.CRL(t, f.inter.Client(t, "gone").Cert)
	f.create(t, "partners", f.ca.BundlePEM(), crlUpload("a.crl", crl1), crlUpload("b.crl", crl2))
	f.create(t, "alpha", testpki.NewCA(t).BundlePEM())
	if doc, _, err := f.svc.Document(ctx); err != nil || doc != nil {
		t.Fatalf("Document with trust stores and no config: %v %v, want nil", doc, err)
	}
	if err := f.svc.RemoveRevocations(ctx, "partners", []int64{1}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AddRevocations(ctx, "partners", []control.Upload{crlUpload("c.crl", crl3)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.PutConfig(ctx, document("partners"), nil); err != nil {
		t.Fatal(err)
	}

	doc, rev, err := f.svc.Document(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rev != f.revision(t) {
		t.Errorf("Document at revision %d, store at %d", rev, f.revision(t))
	}
	if len(doc.TrustStores) != 2 || doc.TrustStores[0].Name != "alpha" || doc.TrustStores[1].Name != "partners" {
		t.Fatalf("document trust stores %+v, want alpha and partners", doc.TrustStores)
	}
	ts := doc.TrustStores[1]
	if got, want := ts.CACertificatesBundle.Path(), digest(f.ca.BundlePEM()); got != want {
		t.Errorf("bundle path %q, want the content address %q", got, want)
	}
	type rv struct {
		ID   int64
		Path string
	}
	var got []rv
	for _, r := range ts.Revocations {
		got = append(got, rv{r.ID, r.CRL.Path()})
	}
	if want := []rv{{2, digest(crl2)}, {3, digest(crl3)}}; !slices.Equal(got, want) {
		t.Errorf("revocations %v, want %v", got, want)
	}
	if ts.MaxRevocations == 0 || ts.MaxChainDepth == 0 {
		t.Errorf("trust store limits not defaulted: %+v", ts)
	}
	if len(doc.Listeners) != 1 || doc.Listeners[0].MutualAuthentication.TrustStore != "partners" {
		t.Errorf("listeners %+v", doc.Listeners)
	}
	// The document compiles with the Service's reader: blobs by content address, files from the data dir.
	compiled, err := engine.Compile(doc, engine.CompileOptions{ReadFile: f.svc.ReadFile(ctx)}, nil)
	if err != nil {
		t.Fatalf("the stored document does not compile: %v", err)
	}
	if store := compiled.TrustStores()["partners"]; store == nil || len(store.CACertificates()) != 1 {
		t.Errorf("compiled trust store partners: %v", store)
	}
}

// racingStore is a Memory store that runs a competing write just before the first transaction it is asked to
// commit: the interleaving two admin clients produce when their requests overlap, made deterministic.
type racingStore struct {
	*configstore.Memory
	before atomic.Pointer[func()]
}

func (r *racingStore) Txn(ctx context.Context, conds []configstore.Cond, ops []configstore.Op) (configstore.Revision, error) {
	if f := r.before.Swap(nil); f != nil {
		(*f)()
	}
	return r.Memory.Txn(ctx, conds, ops)
}

// TestInUseRaces checks that the in-use rule holds when a delete and a put overlap: whichever commits second
// must see that the other changed what it checked, or the store would hold a document naming a trust store
// that no longer exists (which no reload could apply).
func TestInUseRaces(t *testing.T) {
	tests := []struct {
		name string
		// first starts, and rival commits between first's reads and its transaction.
		first, rival func(ctx context.Context, svc *control.Service) error
	}{
		{
			name:  "delete-overtaken-by-put",
			first: func(ctx context.Context, svc *control.Service) error { return svc.DeleteTrustStore(ctx, "partners") },
			rival: func(ctx context.Context, svc *control.Service) error {
				_, err := svc.PutConfig(ctx, document("partners"), nil)
				return err
			},
		},
		{
			name: "put-overtaken-by-delete",
			first: func(ctx context.Context, svc *control.Service) error {
				_, err := svc.PutConfig(ctx, document("partners"), nil)
				return err
			},
			rival: func(ctx context.Context, svc *control.Service) error { return svc.DeleteTrustStore(ctx, "partners") },
		},
	}
	for _, mode := range checkModes {
		for _, tt := range tests {
			t.Run(mode.name+"/"+tt.name, func(t *testing.T) {
				ctx := context.Background()
				f := newFixture(t, mode.check)
				f.create(t, "partners", f.ca.BundlePEM())
				if _, err := f.svc.PutConfig(ctx, document(), nil); err != nil {
					t.Fatal(err)
				}
				racing := &racingStore{Memory: f.mem}
				var rivalErr error
				rival := func() { rivalErr = tt.rival(ctx, f.svc) }
				racing.before.Store(&rival)

				err := tt.first(ctx, f.service(racing, mode.check))
				if rivalErr != nil {
					t.Fatalf("the rival write failed: %v", rivalErr)
				}
				if err == nil {
					t.Fatal("both overlapping writes succeeded")
				}
				e := control.AsError(err)
				if e.Status != 409 && e.Status != 412 {
					t.Errorf("the overtaken write got %s (%d), want a conflict", e.Code, e.Status)
				}
				doc, _, err := f.svc.Document(ctx)
				if err != nil {
					t.Fatalf("the store holds a document that does not parse: %v", err)
				}
				if mode.check != nil {
					if err := mode.check(doc, f.svc.ReadFile(ctx)); err != nil {
						t.Fatalf("the store holds a document that does not compile: %v", err)
					}
				}
			})
		}
	}
}

// TestTrustStoreWriteRaces checks the answers of trust-store writes overtaken by a rival write: the rival's
// change stays, and the overtaken write reports what ALB would and returns no result.
func TestTrustStoreWriteRaces(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	f.create(t, "partners", f.ca.BundlePEM())
	crl := crlUpload("inter.crl", f.inter.CRL(t))
	other := testpki.NewCA(t).BundlePEM()

	tests := []struct {
		name     string
		first    func(svc *control.Service) (any, error)
		rival    func() error
		wantCode string
	}{
		{
			name: "create-create",
			first: func(svc *control.Service) (any, error) {
				return svc.CreateTrustStore(ctx, "racy", control.Upload{Data: f.ca.BundlePEM()}, nil)
			},
			rival: func() error {
				_, err := f.svc.CreateTrustStore(ctx, "racy", control.Upload{Data: other}, nil)
				return err
			},
			wantCode: control.CodeDuplicateTrustStoreName,
		},
		{
			name: "modify-add",
			first: func(svc *control.Service) (any, error) {
				return svc.ModifyTrustStore(ctx, "partners", control.Upload{Data: other})
			},
			rival: func() error {
				_, err := f.svc.AddRevocations(ctx, "partners", []control.Upload{crl})
				return err
			},
			wantCode: control.CodeConflict,
		},
		{
			name: "add-modify",
			first: func(svc *control.Service) (any, error) {
				return svc.AddRevocations(ctx, "partners", []control.Upload{crl})
			},
			rival: func() error {
				_, err := f.svc.ModifyTrustStore(ctx, "partners", control.Upload{Data: other})
				return err
			},
			wantCode: control.CodeConflict,
		},
		{
			name: "remove-add",
			first: func(svc *control.Service) (any, error) {
				return nil, svc.RemoveRevocations(ctx, "partners", []int64{1})
			},
			rival:    func() error { _, err := f.svc.AddRevocations(ctx, "partners", []control.Upload{crl}); return err },
			wantCode: control.CodeConflict,
		},
	}
	// The cases run in order over one store: remove-add removes the CRL that modify-add's rival added.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			racing := &racingStore{Memory: f.mem}
			var rivalErr error
			rival := func() { rivalErr = tt.rival() }
			racing.before.Store(&rival)
			before := f.revision(t)
			got, err := tt.first(f.service(racing, nil))
			if rivalErr != nil {
				t.Fatalf("the rival write failed: %v", rivalErr)
			}
			wantCode(t, err, tt.wantCode)
			if got != nil && !isNilResult(got) {
				t.Errorf("the overtaken write returned a result with its error: %+v", got)
			}
			if after := f.revision(t); after != before+1 {
				t.Errorf("revision %d, want %d (the rival's write only)", after, before+1)
			}
		})
	}
}

func isNilResult(v any) bool {
	switch r := v.(type) {
	case *control.TrustStore:
		return r == nil
	case []control.Revocation:
		return r == nil
	}
	return false
}

// TestConcurrentAddRevocations checks that concurrent writers to one trust store never lose an update: each
// either lands (with an id of its own) or is told to retry.
func TestConcurrentAddRevocations(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	f.create(t, "partners", f.ca.BundlePEM())
	const writers = 6
	crls := make([][]byte, writers)
	for i := range crls {
		crls[i] = f.inter.CRL(t, f.inter.Client(t, fmt.Sprintf("c%d", i)).Cert)
	}
	var mu sync.Mutex
	var ids []int64
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			added, err := f.svc.AddRevocations(ctx, "partners", []control.Upload{crlUpload("c.crl", crls[i])})
			if err != nil {
				if control.AsError(err).Code != control.CodeConflict {
					t.Errorf("concurrent add: %v", err)
				}
				return
			}
			mu.Lock()
			ids = append(ids, added[0].ID)
			mu.Unlock()
		}()
	}
	wg.Wait()
	revs, err := f.svc.DescribeRevocations(ctx, "partners")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	if got := revocationIDs(revs); !slices.Equal(got, ids) || len(ids) == 0 {
		t.Errorf("stored ids %v, the winners were told %v", got, ids)
	}
}

func TestErrorStatus(t *testing.T) {
	e := control.AsError(fmt.Errorf("wrapped: %w", &control.Error{Code: control.CodeTrustStoreNotFound, Status: 404, Message: "m"}))
	if e.Code != control.CodeTrustStoreNotFound || e.Status != 404 {
		t.Errorf("AsError lost the wrapped error: %+v", e)
	}
	if e := control.AsError(errors.New("disk on fire")); e.Status != 500 || e.Code != "InternalError" {
		t.Errorf("AsError(plain) = %+v, want a 500 InternalError", e)
	}
	if got := (&control.Error{Code: "C", Message: "m"}).Error(); got != "C: m" {
		t.Errorf("Error() = %q", got)
	}
}
