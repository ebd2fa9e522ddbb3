package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// secondBackend starts a backend that says who it is, and returns its port.
func secondBackend(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "backend=second")
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// targetsAnswer is the JSON of register-targets and deregister-targets.
type targetsAnswer struct {
	TargetGroupName string `json:"target_group_name"`
	Targets         []struct {
		ID   string `json:"id"`
		Port int    `json:"port"`
	} `json:"targets"`
	Revision int64 `json:"revision"`
}

// TestTargetGroupRegisterDeregister registers a second backend into a running store-mode server and sees
// requests go to both in turn, then deregisters it and sees them go to the first only; all without a restart.
func TestTargetGroupRegisterDeregister(t *testing.T) {
	s := newSite(t)
	second := secondBackend(t)
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startStoreServer(t, filepath.Join(s.dir, "data"), admin)

	// Before any document: the group does not exist yet, and the message says how to make one.
	if _, errOut, code := cli(t, admin, "target-group", "describe-target-health", "--target-group-name", "app"); code != 1 || !strings.Contains(errOut, "TargetGroupNotFound") || !strings.Contains(errOut, "apply") {
		t.Errorf("describe-target-health before any document: exit %d, %s", code, errOut)
	}
	if out, errOut, code := cli(t, admin, "trust-store", "create", "--name", "clients", "--ca-certificates-bundle", filepath.Join(s.dir, "bundle.pem")); code != 0 {
		t.Fatalf("trust-store create: exit %d\n%s%s", code, out, errOut)
	}
	docPath := s.write(t, "store.yaml", []byte(s.storeConfig()))
	if out, errOut, code := cli(t, admin, "apply", "-f", docPath); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	good := s.issuing.Client(t, "good.client")
	waitFor(t, "the listener", 10*time.Second, func() bool { _, err := s.get(t, good); return err == nil })

	// count sends n requests one after the other and counts those the second backend answered.
	count := func(n int) int {
		t.Helper()
		hits := 0
		for range n {
			body, err := s.get(t, good)
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			if strings.Contains(body, "backend=second") {
				hits++
			}
		}
		return hits
	}
	if hits := count(4); hits != 0 {
		t.Fatalf("the second backend got %d requests before it was registered", hits)
	}

	// Register the second backend: requests alternate between the two.
	secondTarget := fmt.Sprintf("id=127.0.0.1,port=%d", second)
	out, errOut, code := cli(t, admin, "target-group", "register-targets", "--target-group-name", "app", "--targets", secondTarget, "--output", "json")
	if code != 0 {
		t.Fatalf("register-targets: exit %d\n%s%s", code, out, errOut)
	}
	var registered targetsAnswer
	if err := json.Unmarshal([]byte(out), &registered); err != nil || len(registered.Targets) != 2 || registered.TargetGroupName != "app" {
		t.Fatalf("register-targets --output json: %v\n%s", err, out)
	}
	waitFor(t, "the registration to apply", 10*time.Second, func() bool { return count(1) == 1 })
	if hits := count(6); hits != 3 {
		t.Errorf("the second backend got %d of 6 requests after registration, want 3 (round robin over two)", hits)
	}

	// Registering it again changes nothing (ALB): exit 0, same revision.
	out, errOut, code = cli(t, admin, "target-group", "register-targets", "--target-group-name", "app", "--targets", "Id=127.0.0.1,Port="+fmt.Sprint(second), "--output", "json")
	var again targetsAnswer
	if code != 0 || json.Unmarshal([]byte(out), &again) != nil || again.Revision != registered.Revision || len(again.Targets) != 2 {
		t.Errorf("registering again: exit %d, revision %d (first %d)\n%s%s", code, again.Revision, registered.Revision, out, errOut)
	}

	// Health: the running checks' view. Both backends answer, but ALB's healthy threshold (5 checks, 30 s apart)
	// is far away: both are initial, with ALB's reason and description.
	out, errOut, code = cli(t, admin, "target-group", "describe-target-health", "--target-group-name", "app", "--output", "json")
	var health struct {
		Descriptions []struct {
			Target struct {
				Port int `json:"port"`
			} `json:"target"`
			TargetHealth struct {
				State       string `json:"state"`
				Reason      string `json:"reason"`
				Description string `json:"description"`
			} `json:"target_health"`
		} `json:"target_health_descriptions"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &health) != nil || len(health.Descriptions) != 2 {
		t.Fatalf("describe-target-health --output json: exit %d\n%s%s", code, out, errOut)
	}
	for _, d := range health.Descriptions {
		if th := d.TargetHealth; th.State != "initial" || th.Reason != "Elb.InitialHealthChecking" || th.Description != "Initial health checks in progress" {
			t.Errorf("target port %d: health %+v", d.Target.Port, th)
		}
	}
	out, _, code = cli(t, admin, "target-group", "describe-target-health", "--target-group-name", "app")
	if code != 0 || !strings.Contains(out, "STATE") || strings.Count(out, "initial") != 2 {
		t.Errorf("describe-target-health table: exit %d\n%s", code, out)
	}

	// Refusals: ALB's error name with exit 1, usage mistakes with exit 2; nothing changes.
	refusals := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"unknown-group", []string{"register-targets", "--target-group-name", "nope", "--targets", secondTarget}, 1, "TargetGroupNotFound"},
		{"unknown-group-health", []string{"describe-target-health", "--target-group-name", "nope"}, 1, "TargetGroupNotFound"},
		{"not-a-host", []string{"register-targets", "--target-group-name", "app", "--targets", "id=10.0.0.256,port=80"}, 1, "InvalidConfigurationRequest"},
		{"bad-targets", []string{"register-targets", "--target-group-name", "app", "--targets", "127.0.0.1:8080"}, 2, "id=ADDRESS,port=PORT"},
		{"no-port", []string{"deregister-targets", "--target-group-name", "app", "--targets", "id=127.0.0.1"}, 2, "port is required"},
		{"no-targets", []string{"register-targets", "--target-group-name", "app"}, 2, "targets"},
		{"no-group", []string{"describe-target-health"}, 2, "target-group-name"},
		{"stray-argument", []string{"describe-target-health", "--target-group-name", "app", "extra"}, 2, "extra"},
		{"bad-output", []string{"describe-target-health", "--target-group-name", "app", "--output", "yaml"}, 2, "--output"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := cli(t, admin, append([]string{"target-group"}, tt.args...)...)
			if code != tt.wantCode || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("exit %d, want %d with %q\n%s%s", code, tt.wantCode, tt.wantErr, out, errOut)
			}
		})
	}

	// Deregister it, in the aws elbv2 form with several targets after one --targets (the other one is not
	// registered: ignored): requests go to the first backend only.
	out, errOut, code = cli(t, admin, "target-group", "deregister-targets", "--target-group-name", "app", "--targets", secondTarget, "id=127.0.0.9,port=1")
	if code != 0 || !strings.Contains(out, "now has 1 target(s)") {
		t.Fatalf("deregister-targets: exit %d\n%s%s", code, out, errOut)
	}
	// Under round robin over two targets, four requests in a row to the first one mean the change applied.
	waitFor(t, "the deregistration to apply", 10*time.Second, func() bool { return count(4) == 0 })
	if hits := count(6); hits != 0 {
		t.Errorf("the second backend got %d of 6 requests after deregistration", hits)
	}

	// The stored document now lists only the first backend's target.
	status, body := api(t, admin, http.MethodGet, "/api/v1/config", nil, nil)
	if status != http.StatusOK || strings.Contains(string(body), fmt.Sprint(second)) || !json.Valid(body) {
		t.Errorf("GET /api/v1/config after deregistration: %d\n%s", status, body)
	}
}
