package control_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mtlslb/mtlslb/internal/config"
	"github.com/mtlslb/mtlslb/internal/configstore"
	"github.com/mtlslb/mtlslb/internal/control"
)

// storedTargets returns the targets of target group tg in the stored document, as the engine would get them.
func storedTargets(t testing.TB, svc *control.Service, check func(*config.Document, func(string) ([]byte, error)) error, tg string) []control.Target {
	t.Helper()
	ctx := context.Background()
	doc, _, err := svc.Document(ctx)
	if err != nil || doc == nil {
		t.Fatalf("Document: %v (nil %v)", err, doc == nil)
	}
	if check != nil {
		if err := check(doc, svc.ReadFile(ctx)); err != nil {
			t.Fatalf("the stored document does not compile: %v", err)
		}
	}
	for _, g := range doc.TargetGroups {
		if g.Name == tg {
			out := []control.Target{}
			for _, tt := range g.Targets {
				out = append(out, control.Target{ID: tt.ID, Port: tt.Port})
			}
			return out
		}
	}
	t.Fatalf("the stored document has no target group %q", tg)
	return nil
}

func target(id string, port int) control.Target { return control.Target{ID: id, Port: port} }

// TestRegisterDeregisterTargets walks a target group through registrations and deregistrations, checking
// after each step what the engine would compile and whether the store was written at all.
func TestRegisterDeregisterTargets(t *testing.T) {
	steps := []struct {
		name       string
		deregister bool
		targets    []control.Target
		want       []control.Target
		wantWrite  bool
	}{
		{"register-new", false, []control.Target{target("127.0.0.1", 8081)},
			[]control.Target{target("127.0.0.1", 8080), target("127.0.0.1", 8081)}, true},
		{"register-again-is-a-no-op", false, []control.Target{target("127.0.0.1", 8081)},
			[]control.Target{target("127.0.0.1", 8080), target("127.0.0.1", 8081)}, false},
		{"register-mapped-spelling-is-the-same-target", false, []control.Target{target("::ffff:127.0.0.1", 8080)},
			[]control.Target{target("127.0.0.1", 8080), target("127.0.0.1", 8081)}, false},
		{"register-two-one-known", false, []control.Target{target("127.0.0.1", 8081), target("localhost", 9000), target("localhost", 9000)},
			[]control.Target{target("127.0.0.1", 8080), target("127.0.0.1", 8081), target("localhost", 9000)}, true},
		{"host-names-ignore-case", false, []control.Target{target("LocalHost.", 9000)},
			[]control.Target{target("127.0.0.1", 8080), target("127.0.0.1", 8081), target("localhost", 9000)}, false},
		{"deregister-unknown-is-a-no-op", true, []control.Target{target("127.0.0.2", 8080)},
			[]control.Target{target("127.0.0.1", 8080), target("127.0.0.1", 8081), target("localhost", 9000)}, false},
		{"deregister-one", true, []control.Target{target("127.0.0.1", 8080), target("10.9.9.9", 1)},
			[]control.Target{target("127.0.0.1", 8081), target("localhost", 9000)}, true},
		{"deregister-all", true, []control.Target{target("127.0.0.1", 8081), target("localhost", 9000)},
			[]control.Target{}, true},
		{"register-into-empty", false, []control.Target{target("127.0.0.1", 8080)},
			[]control.Target{target("127.0.0.1", 8080)}, true},
	}
	for _, mode := range checkModes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, mode.check)
			if _, err := f.svc.PutConfig(ctx, document(), nil); err != nil {
				t.Fatal(err)
			}
			for _, st := range steps {
				before := f.revision(t)
				edit := f.svc.RegisterTargets
				if st.deregister {
					edit = f.svc.DeregisterTargets
				}
				res, err := edit(ctx, "app", st.targets)
				if err != nil {
					t.Fatalf("%s: %v", st.name, err)
				}
				if diff := cmp.Diff(st.want, res.Targets); diff != "" {
					t.Errorf("%s: answered targets (-want +got):\n%s", st.name, diff)
				}
				if diff := cmp.Diff(st.want, storedTargets(t, f.svc, mode.check, "app")); diff != "" {
					t.Errorf("%s: stored targets (-want +got):\n%s", st.name, diff)
				}
				after := f.revision(t)
				if wrote := after != before; wrote != st.wantWrite {
					t.Errorf("%s: revision %d → %d, want a write: %v", st.name, before, after, st.wantWrite)
				}
				if res.Revision != after {
					t.Errorf("%s: answered revision %d, the store is at %d", st.name, res.Revision, after)
				}
				if res.TargetGroupName != "app" {
					t.Errorf("%s: answered target group %q", st.name, res.TargetGroupName)
				}
			}
		})
	}
}

// TestTargetsRefused checks the refusals: each has ALB's error name and changes nothing.
func TestTargetsRefused(t *testing.T) {
	tests := []struct {
		name       string
		noDocument bool
		deregister bool
		group      string
		targets    []control.Target
		wantCode   string
		wantStatus int
		wantMsg    []string
	}{
		{"unknown-group", false, false, "nope", []control.Target{target("127.0.0.1", 1)}, control.CodeTargetGroupNotFound, 404, []string{`"nope"`}},
		{"unknown-group-deregister", false, true, "nope", []control.Target{target("127.0.0.1", 1)}, control.CodeTargetGroupNotFound, 404, []string{`"nope"`}},
		{"no-document", true, false, "app", []control.Target{target("127.0.0.1", 1)}, control.CodeTargetGroupNotFound, 404, []string{"no configuration has been stored", "apply"}},
		{"no-targets", false, false, "app", nil, control.CodeValidationError, 400, []string{"no targets"}},
		{"empty-id", false, false, "app", []control.Target{target(" ", 80)}, control.CodeValidationError, 400, []string{"targets[0].id"}},
		{"port-zero", false, false, "app", []control.Target{target("127.0.0.1", 80), target("127.0.0.1", 0)}, control.CodeValidationError, 400, []string{"targets[1].port"}},
		{"port-too-big", false, true, "app", []control.Target{target("127.0.0.1", 65536)}, control.CodeValidationError, 400, []string{"65536"}},
		{"not-a-host", false, false, "app", []control.Target{target("10.0.0.256", 80)}, control.CodeInvalidConfiguration, 400, []string{"target_groups[0].targets[1].id", "10.0.0.256"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, compileCheck)
			if !tt.noDocument {
				if _, err := f.svc.PutConfig(ctx, document(), nil); err != nil {
					t.Fatal(err)
				}
			}
			before := f.revision(t)
			edit := f.svc.RegisterTargets
			if tt.deregister {
				edit = f.svc.DeregisterTargets
			}
			res, err := edit(ctx, tt.group, tt.targets)
			if res != nil {
				t.Errorf("a refused call answered %+v", res)
			}
			if e := wantCode(t, err, tt.wantCode, tt.wantMsg...); e.Status != tt.wantStatus {
				t.Errorf("status %d, want %d", e.Status, tt.wantStatus)
			}
			if after := f.revision(t); after != before {
				t.Errorf("revision %d → %d: a refused call wrote", before, after)
			}
		})
	}
}

// commentedDocument is a YAML document with comments, YAML 1.1 booleans and an exact number: what a user
// writes by hand, and what the JSON re-encoding must not change the meaning of.
const commentedDocument = `# the demo load balancer
name: demo   # shown in the logs
attributes:
  idle_timeout_seconds: 120
  preserve_host_header: yes
  http2_enabled: off
listeners:
  - port: 8443
    protocol: HTTPS
    certificates:
      - { certificate: server.pem, private_key: server-key.pem }
    default_actions:
      - { type: forward, target_group: app }
target_groups:
  - name: app
    targets:
      - { id: 127.0.0.1, port: 8080, weight: 1 }   # weight kept as written
    health_check: { path: "/healthz?a=<1>&b", interval_seconds: 10 }
  - name: other
    targets: [{ id: 127.0.0.1, port: 9090 }]
`

// TestRegisterKeepsMeaning checks that the edit of a hand-written YAML document changes the registered
// targets and nothing else: the document parses to the same thing apart from them. Its comments are gone
// (documented), and it is stored as JSON.
func TestRegisterKeepsMeaning(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, compileCheck)
	if _, err := f.svc.PutConfig(ctx, []byte(commentedDocument), nil); err != nil {
		t.Fatal(err)
	}
	before, _, err := f.svc.Document(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.RegisterTargets(ctx, "app", []control.Target{target("127.0.0.1", 8081)}); err != nil {
		t.Fatal(err)
	}
	after, _, err := f.svc.Document(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantTargets := append(slices.Clone(before.TargetGroups[0].Targets), config.Target{ID: "127.0.0.1", Port: 8081, Weight: ptr(1)})
	if diff := cmp.Diff(wantTargets, after.TargetGroups[0].Targets); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
	before.TargetGroups[0].Targets, after.TargetGroups[0].Targets = nil, nil
	if diff := cmp.Diff(before, after, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("the edit changed more than the targets (-before +after):\n%s", diff)
	}
	data, _, _, err := f.svc.GetConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(data) || bytes.Contains(data, []byte("#")) {
		t.Errorf("the stored document is not JSON without comments:\n%s", data)
	}
	if !bytes.Contains(data, []byte(`"/healthz?a=<1>&b"`)) {
		t.Errorf("the stored document escapes what it need not:\n%s", data)
	}
}

// TestConcurrentRegisters registers from several clients at once: every registration lands (run with -race).
func TestConcurrentRegisters(t *testing.T) {
	const clients = 4
	ctx := context.Background()
	f := newFixture(t, compileCheck)
	if _, err := f.svc.PutConfig(ctx, document(), nil); err != nil {
		t.Fatal(err)
	}
	start := make(chan struct{})
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			<-start
			_, errs[i] = f.svc.RegisterTargets(ctx, "app", []control.Target{target("127.0.0.1", 9000+i)})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("client %d: %v", i, err)
		}
	}
	got := storedTargets(t, f.svc, compileCheck, "app")
	want := []control.Target{target("127.0.0.1", 8080)}
	for i := range clients {
		want = append(want, target("127.0.0.1", 9000+i))
	}
	sortTargets := cmpopts.SortSlices(func(a, b control.Target) bool { return a.Port < b.Port })
	if diff := cmp.Diff(want, got, sortTargets); diff != "" {
		t.Errorf("a registration was lost (-want +got):\n%s", diff)
	}
}

// rivalStore is a Memory store that runs rival before each of the first n transactions it commits: a write
// from another client that always gets in between a read and its write.
type rivalStore struct {
	*configstore.Memory
	rival func()
	left  atomic.Int32
}

func (r *rivalStore) Txn(ctx context.Context, conds []configstore.Cond, ops []configstore.Op) (configstore.Revision, error) {
	if r.left.Add(-1) >= 0 {
		r.rival()
	}
	return r.Memory.Txn(ctx, conds, ops)
}

// TestRegisterOvertaken checks the retry: an edit overtaken by other writes starts over on the newer
// document (both changes stay) and, overtaken every time, gives up with ConcurrentModification.
func TestRegisterOvertaken(t *testing.T) {
	tests := []struct {
		name     string
		rivals   int32
		wantCode string
	}{
		{"once", 1, ""},
		{"four-times", 4, ""},
		{"always", 1000, control.CodeConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, nil)
			if _, err := f.svc.PutConfig(ctx, document(), nil); err != nil {
				t.Fatal(err)
			}
			var port atomic.Int32
			port.Store(10000)
			rs := &rivalStore{Memory: f.mem, rival: func() {
				if _, err := f.svc.RegisterTargets(ctx, "app", []control.Target{target("127.0.0.2", int(port.Add(1)))}); err != nil {
					t.Errorf("the rival write failed: %v", err)
				}
			}}
			rs.left.Store(tt.rivals)
			_, err := f.service(rs, nil).RegisterTargets(ctx, "app", []control.Target{target("127.0.0.1", 8081)})
			got := storedTargets(t, f.svc, nil, "app")
			mine := slices.Contains(got, target("127.0.0.1", 8081))
			if tt.wantCode != "" {
				wantCode(t, err, tt.wantCode, "retry")
				if mine {
					t.Error("a refused registration was stored")
				}
				return
			}
			if err != nil {
				t.Fatalf("RegisterTargets after %d rival writes: %v", tt.rivals, err)
			}
			if !mine {
				t.Error("the registration was lost")
			}
			if rivals := len(got) - 2; rivals != int(tt.rivals) {
				t.Errorf("%d rival registrations stored, want %d: %v", rivals, tt.rivals, got)
			}
		})
	}
}

// healthDocument has a target group a listener forwards to, one with health checks disabled and a custom
// port, and one no listener uses.
const healthDocument = `listeners:
  - port: 8443
    protocol: HTTPS
    certificates:
      - { certificate: server.pem, private_key: server-key.pem }
    default_actions:
      - { type: forward, target_group: app }
  - port: 8444
    protocol: HTTPS
    certificates:
      - { certificate: server.pem, private_key: server-key.pem }
    default_actions:
      - type: forward
        forward: { target_groups: [{ target_group: quiet }] }
target_groups:
  - name: app
    targets: [{ id: 127.0.0.1, port: 8080 }, { id: localhost, port: 8081 }]
  - name: quiet
    targets: [{ id: 127.0.0.1, port: 8082 }]
    health_check: { enabled: false, port: "9999" }
  - name: spare
    targets: [{ id: 127.0.0.1, port: 8083 }]
  - name: empty
`

func TestDescribeTargetHealth(t *testing.T) {
	unavailable := func(desc string) control.TargetHealth {
		return control.TargetHealth{State: control.TargetHealthUnavailable, Reason: control.ReasonHealthCheckDisabled, Description: desc}
	}
	unused := control.TargetHealth{State: control.TargetHealthUnused, Reason: control.ReasonNotInUse}
	tests := []struct {
		name  string
		group string
		want  []control.TargetHealthDescription
		// wantDescription must be in every target's description.
		wantDescription string
	}{
		{"in-use", "app", []control.TargetHealthDescription{
			{Target: target("127.0.0.1", 8080), HealthCheckPort: "8080", TargetHealth: unavailable("")},
			{Target: target("localhost", 8081), HealthCheckPort: "8081", TargetHealth: unavailable("")},
		}, "no health information"},
		{"checks-disabled", "quiet", []control.TargetHealthDescription{
			{Target: target("127.0.0.1", 8082), HealthCheckPort: "9999", TargetHealth: unavailable("")},
		}, "disabled"},
		{"not-in-use", "spare", []control.TargetHealthDescription{
			{Target: target("127.0.0.1", 8083), HealthCheckPort: "8083", TargetHealth: unused},
		}, "not configured to receive traffic"},
		{"no-targets", "empty", []control.TargetHealthDescription{}, ""},
	}
	ctx := context.Background()
	f := newFixture(t, compileCheck)
	if _, err := f.svc.PutConfig(ctx, []byte(healthDocument), nil); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.svc.DescribeTargetHealth(ctx, tt.group)
			if err != nil {
				t.Fatal(err)
			}
			if got == nil {
				t.Fatal("nil list: it would encode as null, not []")
			}
			for _, d := range got {
				if !strings.Contains(d.TargetHealth.Description, tt.wantDescription) {
					t.Errorf("%v: description %q lacks %q", d.Target, d.TargetHealth.Description, tt.wantDescription)
				}
			}
			ignoreDescription := cmpopts.IgnoreFields(control.TargetHealth{}, "Description")
			if diff := cmp.Diff(tt.want, got, ignoreDescription); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	t.Run("unknown-group", func(t *testing.T) {
		_, err := f.svc.DescribeTargetHealth(ctx, "nope")
		wantCode(t, err, control.CodeTargetGroupNotFound, `"nope"`)
	})
	t.Run("no-document", func(t *testing.T) {
		_, err := newFixture(t, nil).svc.DescribeTargetHealth(ctx, "app")
		wantCode(t, err, control.CodeTargetGroupNotFound, "no configuration has been stored")
	})
	t.Run("follows-registration", func(t *testing.T) {
		if _, err := f.svc.RegisterTargets(ctx, "spare", []control.Target{target("127.0.0.1", 8090)}); err != nil {
			t.Fatal(err)
		}
		got, err := f.svc.DescribeTargetHealth(ctx, "spare")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[1].Target != target("127.0.0.1", 8090) {
			t.Errorf("after a registration: %+v", got)
		}
	})
}

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in      string
		want    control.Target
		wantErr string
	}{
		{in: "id=10.0.0.1,port=8080", want: target("10.0.0.1", 8080)},
		{in: "Id=10.0.0.1,Port=8080", want: target("10.0.0.1", 8080)},
		{in: "port=443,id=backend.example", want: target("backend.example", 443)},
		{in: "id=::1,port=1", want: target("::1", 1)},
		{in: " id = 10.0.0.1 , port = 80 ", want: target("10.0.0.1", 80)},
		{in: "", wantErr: "not key=value"},
		{in: "10.0.0.1:8080", wantErr: "not key=value"},
		{in: "id=10.0.0.1", wantErr: "port is required"},
		{in: "port=80", wantErr: "id is required"},
		{in: "id=,port=80", wantErr: "id is required"},
		{in: "id=a,port=0", wantErr: "1 to 65535"},
		{in: "id=a,port=65536", wantErr: "1 to 65535"},
		{in: "id=a,port=http", wantErr: "1 to 65535"},
		{in: "id=a,port=80,port=81", wantErr: "port given twice"},
		{in: "id=a,id=b,port=80", wantErr: "id given twice"},
		{in: "id=a,port=80,AvailabilityZone=all", wantErr: "availability zones"},
		{in: "id=a,port=80,weight=2", wantErr: `unknown key "weight"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := control.ParseTarget(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseTarget(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseTarget(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			if again, err := control.ParseTarget(got.String()); err != nil || again != got {
				t.Errorf("ParseTarget(%q) of String() = %v, %v", got.String(), again, err)
			}
		})
	}
}

func ExampleParseTarget() {
	t, err := control.ParseTarget("Id=10.0.0.1,Port=8080")
	fmt.Println(t, err)
	// Output: id=10.0.0.1,port=8080 <nil>
}

// FuzzParseTarget: no input panics, and what parses prints back to itself.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"id=10.0.0.1,port=8080", "Id=::1,Port=1", "id=a,port=99999", "port=,id=", ",,=", "id=a,port=8080,AvailabilityZone=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := control.ParseTarget(s)
		if err != nil {
			return
		}
		if got.ID == "" || got.Port < 1 || got.Port > 65535 {
			t.Fatalf("ParseTarget(%q) accepted %+v", s, got)
		}
		if strings.Contains(got.ID, ",") {
			return // cannot be, since "," separates keys; String would not round-trip
		}
		again, err := control.ParseTarget(got.String())
		if err != nil || again != got {
			t.Fatalf("ParseTarget(%q) = %+v, but its String %q reads as %+v, %v", s, got, got.String(), again, err)
		}
	})
}

// FuzzRegisterTargets stores arbitrary bytes as the document, bypassing validation (a corrupt or older
// store), and registers a target into it: never a panic, and an accepted registration is in the stored
// document afterwards.
func FuzzRegisterTargets(f *testing.F) {
	f.Add([]byte(commentedDocument), "app", "127.0.0.1", 8081)
	f.Add([]byte(healthDocument), "empty", "localhost", 1)
	f.Add([]byte(`{"target_groups": [{"name": "app", "targets": "x"}]}`), "app", "127.0.0.1", 80)
	f.Add([]byte(`target_groups: [{name: app, targets: [1, {id: 2, port: x}]}]`), "app", "::1", 80)
	f.Add([]byte("\x00\xff"), "app", "a", 80)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, doc []byte, group, id string, port int) {
		ctx := context.Background()
		mem := configstore.NewMemory()
		defer mem.Close()
		if _, err := mem.Txn(ctx, nil, []configstore.Op{{Key: "config", Value: doc}}); err != nil {
			return
		}
		svc := control.New(control.Options{Store: mem, Dir: dir})
		res, err := svc.RegisterTargets(ctx, group, []control.Target{{ID: id, Port: port}})
		if err != nil {
			if control.AsError(err).Status == 0 {
				t.Fatalf("an error without a status: %v", err)
			}
			return
		}
		if !slices.ContainsFunc(res.Targets, func(t control.Target) bool { return t.Port == port }) {
			t.Fatalf("registered %s:%d but the group has %v", id, port, res.Targets)
		}
		_, _ = svc.DeregisterTargets(ctx, group, []control.Target{{ID: id, Port: port}})
		_, _ = svc.DescribeTargetHealth(ctx, group)
	})
}
