package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Phases of a comparison run, as named in the result files compare.sh writes.
const (
	phaseThroughput = "throughput" // closed loop: as many requests as the system answers
	phasePaced      = "paced"      // a fixed moderate rate, for latency
)

// systemReport is one row of the comparison.
type systemReport struct {
	System string `json:"system"`
	// Rounds is how many times the system was measured; every figure below is the median over rounds.
	Rounds     int     `json:"rounds"`
	RPS        float64 `json:"rps"`
	RPSMin     float64 `json:"rps_min"`
	RPSMax     float64 `json:"rps_max"`
	P50us      float64 `json:"p50_us"`
	P99us      float64 `json:"p99_us"`
	RatioNginx float64 `json:"ratio_to_nginx,omitempty"`
	RatioHA    float64 `json:"ratio_to_haproxy,omitempty"`
	// P99AddedUs is this system's p99 minus the direct (plain HTTP) p99 of the same phase; 0 without a direct run.
	P99AddedUs float64 `json:"p99_added_us"`
	// ProxyCPU is the proxy's CPU time over the measured interval, in cores (1.0 = one core busy).
	ProxyCPU float64 `json:"proxy_cpu_cores,omitempty"`
	// CPUusPerReq is the proxy's CPU time per request: the efficiency figure least disturbed by the load
	// generator sharing the machine.
	CPUusPerReq float64 `json:"proxy_cpu_us_per_request,omitempty"`
	// ForeignCPU is the CPU time, in cores, of processes outside the comparison during the measurement (other
	// people's builds on a shared machine): when it is not near zero, the figures of that row are disturbed.
	ForeignCPU float64 `json:"foreign_cpu_cores"`
	// IRQusPerReq is the machine's interrupt and softirq time per request. Loopback TCP does much of its work
	// there, charged to no process; it grows with the number of packets each system exchanges per request.
	IRQusPerReq float64 `json:"irq_cpu_us_per_request,omitempty"`
	// SegmentsPerReq is TCP segments sent per request on the whole path (client to proxy to target and back).
	SegmentsPerReq float64 `json:"tcp_segments_per_request,omitempty"`
	// ForeignCPUMax is the largest ForeignCPU of the rounds.
	ForeignCPUMax float64 `json:"foreign_cpu_cores_max"`
	Errors        uint64  `json:"errors"`
	StatusErrors  uint64  `json:"status_errors"`
	// ConnectionsOpened is the most connections one round opened: equal to Connections when keep-alive held.
	ConnectionsOpened uint64  `json:"connections_opened"`
	Connections       int     `json:"connections"`
	TLS               string  `json:"tls,omitempty"`
	PacedRate         float64 `json:"paced_rate,omitempty"`
	PacedP50us        float64 `json:"paced_p50_us,omitempty"`
	PacedP99us        float64 `json:"paced_p99_us,omitempty"`
	PacedP999us       float64 `json:"paced_p999_us,omitempty"`
	PacedP99AddedUs   float64 `json:"paced_p99_added_us,omitempty"`
	PacedErrors       uint64  `json:"paced_errors"`
}

// comparison is the JSON document `tool report -output json` prints.
type comparison struct {
	Meta    map[string]string `json:"meta"`
	Systems []systemReport    `json:"systems"`
}

func runReport(args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("report", flag.ContinueOnError)
	fset.SetOutput(stderr)
	dir := fset.String("dir", "", "directory of SYSTEM.PHASE.rN.json loadgen results and SYSTEM.PHASE.rN.cpu samples")
	systems := fset.String("systems", "direct,direct-tls,mtlslb,nginx,haproxy", "systems in table order")
	output := fset.String("output", "table", "table or json")
	meta := fset.String("meta", "", "comma-separated key=value pairs describing the run")
	if err := fset.Parse(args); err != nil {
		return errUsage
	}
	if *dir == "" || (*output != "table" && *output != "json") {
		fmt.Fprintln(stderr, "tool report: -dir is required and -output is table or json")
		return errUsage
	}
	cmp := comparison{Meta: map[string]string{}}
	for kv := range strings.SplitSeq(*meta, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			cmp.Meta[k] = v
		}
	}
	for name := range strings.SplitSeq(*systems, ",") {
		row, err := loadSystem(*dir, name)
		if errors.Is(err, fs.ErrNotExist) {
			continue // not run (for example, a proxy that is not installed)
		}
		if err != nil {
			return err
		}
		cmp.Systems = append(cmp.Systems, row)
	}
	cmp.derive()
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(cmp)
	}
	cmp.table(stdout)
	return nil
}

// loadSystem reads one system's results: every round of the throughput phase, and optionally of the paced
// phase and the CPU samples. Each figure is the median over the rounds, taken figure by figure.
func loadSystem(dir, name string) (systemReport, error) {
	row := systemReport{System: name}
	tps, err := readRounds(dir, name, phaseThroughput)
	if err != nil {
		return row, err
	}
	row.Rounds = len(tps)
	pick := func(rs []result, f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		return median(v)
	}
	row.RPS = pick(tps, func(r result) float64 { return r.RPS })
	row.RPSMin, row.RPSMax = tps[0].RPS, tps[0].RPS
	var cpu, perReq, foreign, irqPerReq, segPerReq []float64
	for i, r := range tps {
		row.RPSMin, row.RPSMax = min(row.RPSMin, r.RPS), max(row.RPSMax, r.RPS)
		row.Errors += r.Errors
		row.StatusErrors += r.StatusErrors
		row.ConnectionsOpened = max(row.ConnectionsOpened, r.ConnectionsOpened)
		row.Connections = r.Connections
		row.TLS = r.TLS
		sample, ok, err := readCPU(filepath.Join(dir, fmt.Sprintf("%s.%s.r%d.cpu", name, phaseThroughput, i+1)))
		if err != nil {
			return row, err
		}
		if !ok {
			continue
		}
		foreign = append(foreign, sample.foreignCores)
		if r.Requests > 0 {
			irqPerReq = append(irqPerReq, sample.irqCores*r.DurationS/float64(r.Requests)*1e6)
			segPerReq = append(segPerReq, sample.segmentRate*r.DurationS/float64(r.Requests))
		}
		row.ForeignCPUMax = max(row.ForeignCPUMax, sample.foreignCores)
		if sample.proxyCores >= 0 && r.Requests > 0 {
			cpu = append(cpu, sample.proxyCores)
			perReq = append(perReq, sample.proxyCores*r.DurationS/float64(r.Requests)*1e6)
		}
	}
	// A round without a sample leaves the figure out rather than skewed.
	if len(cpu) == len(tps) {
		row.ProxyCPU, row.CPUusPerReq = median(cpu), median(perReq)
	}
	if len(foreign) == len(tps) {
		row.ForeignCPU = median(foreign)
	}
	if len(irqPerReq) == len(tps) {
		row.IRQusPerReq, row.SegmentsPerReq = median(irqPerReq), median(segPerReq)
	}
	row.P50us = pick(tps, func(r result) float64 { return r.P50us })
	row.P99us = pick(tps, func(r result) float64 { return r.P99us })
	paced, err := readRounds(dir, name, phasePaced)
	switch {
	case err == nil:
		row.PacedRate = paced[0].Rate
		row.PacedP50us = pick(paced, func(r result) float64 { return r.P50us })
		row.PacedP99us = pick(paced, func(r result) float64 { return r.P99us })
		row.PacedP999us = pick(paced, func(r result) float64 { return r.P999us })
		for _, r := range paced {
			row.PacedErrors += r.Errors + r.StatusErrors
		}
	case !errors.Is(err, fs.ErrNotExist):
		return row, err
	}
	return row, nil
}

// readRounds reads DIR/NAME.PHASE.r1.json, r2, ... up to the first missing round.
func readRounds(dir, name, phase string) ([]result, error) {
	var rs []result
	for i := 1; ; i++ {
		var r result
		err := readJSON(filepath.Join(dir, fmt.Sprintf("%s.%s.r%d.json", name, phase, i)), &r)
		if errors.Is(err, fs.ErrNotExist) && len(rs) > 0 {
			return rs, nil
		}
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
}

// median returns the median of v (the mean of the middle two for an even count); v is reordered.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	return nil
}

// cpuSample is one measured interval as compare.sh samples it.
type cpuSample struct {
	proxyCores   float64 // the proxy's CPU time in cores; negative when there is no proxy (direct runs)
	foreignCores float64 // CPU time of processes outside the comparison (the machine is shared)
	irqCores     float64 // CPU time in interrupts and softirqs, charged to no process
	segmentRate  float64 // TCP segments sent per second, all of them over loopback
}

// readCPU reads a CPU sample written by compare.sh: "PROXY_TICKS CLK_TCK SECONDS FOREIGN_TICKS IRQ_TICKS
// TCP_SEGMENTS", PROXY_TICKS being -1 when there is no proxy.
func readCPU(path string) (cpuSample, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cpuSample{}, false, nil
	}
	if err != nil {
		return cpuSample{}, false, err
	}
	var proxy, hz, seconds, foreign, irq, segments float64
	if _, err := fmt.Sscan(string(b), &proxy, &hz, &seconds, &foreign, &irq, &segments); err != nil || hz <= 0 || seconds <= 0 {
		return cpuSample{}, false, fmt.Errorf("parse %s: want \"PROXY_TICKS CLK_TCK SECONDS FOREIGN_TICKS IRQ_TICKS TCP_SEGMENTS\"", path)
	}
	s := cpuSample{
		proxyCores:   -1,
		foreignCores: max(foreign, 0) / hz / seconds,
		irqCores:     max(irq, 0) / hz / seconds,
		segmentRate:  max(segments, 0) / seconds,
	}
	if proxy >= 0 {
		s.proxyCores = proxy / hz / seconds
	}
	return s, true, nil
}

// derive fills in the ratios and the latency added over the direct baseline.
func (c *comparison) derive() {
	find := func(name string) *systemReport {
		for i := range c.Systems {
			if c.Systems[i].System == name {
				return &c.Systems[i]
			}
		}
		return nil
	}
	nginx, haproxy, direct := find("nginx"), find("haproxy"), find("direct")
	for i := range c.Systems {
		r := &c.Systems[i]
		if nginx != nil && nginx.RPS > 0 {
			r.RatioNginx = r.RPS / nginx.RPS
		}
		if haproxy != nil && haproxy.RPS > 0 {
			r.RatioHA = r.RPS / haproxy.RPS
		}
		if direct != nil {
			r.P99AddedUs = r.P99us - direct.P99us
			if r.PacedP99us > 0 && direct.PacedP99us > 0 {
				r.PacedP99AddedUs = r.PacedP99us - direct.PacedP99us
			}
		}
	}
}

func (c *comparison) table(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	hasDirect := slices.ContainsFunc(c.Systems, func(r systemReport) bool { return r.System == "direct" })
	paced := ""
	for _, r := range c.Systems {
		if r.PacedRate > 0 {
			paced = fmt.Sprintf("%.0f req/s", r.PacedRate)
		}
	}
	fmt.Fprintf(tw, "system\treq/s\tmin-max\tvs nginx\tvs haproxy\tp50\tp99\tp99 added\tproxy CPU\tCPU/req\tirq/req\tsegs/req\tother load\tconns\terrors\t")
	if paced != "" {
		fmt.Fprintf(tw, "paced p50\tpaced p99\tp99 added\t")
	}
	fmt.Fprintln(tw)
	for _, r := range c.Systems {
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f-%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%.2f\t%d\t%d\t",
			r.System, r.RPS, r.RPSMin, r.RPSMax, ratio(r.RatioNginx), ratio(r.RatioHA), us(r.P50us), us(r.P99us), added(r.System, r.P99AddedUs, hasDirect),
			cores(r.ProxyCPU), perReq(r.CPUusPerReq), perReq(r.IRQusPerReq), r.SegmentsPerReq, r.ForeignCPU, r.ConnectionsOpened, r.Errors+r.StatusErrors)
		if paced != "" {
			fmt.Fprintf(tw, "%s\t%s\t%s\t", us(r.PacedP50us), us(r.PacedP99us), added(r.System, r.PacedP99AddedUs, hasDirect && r.PacedP99us > 0))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	if len(c.Systems) > 0 {
		fmt.Fprintf(w, "each figure is the median of %d round(s); min-max is the spread of req/s over rounds; CPU figures are in cores;\n", c.Systems[0].Rounds)
		fmt.Fprintln(w, "irq/req is interrupt and softirq time per request (loopback TCP work charged to no process); segs/req is")
		fmt.Fprintln(w, "TCP segments sent per request over the whole path (client-proxy and proxy-target, both directions);")
		fmt.Fprintln(w, "other load is CPU used by processes outside the comparison during the measurement (the machine is shared)")
	}
	var tlsSeen []string
	for _, r := range c.Systems {
		if r.TLS != "" {
			tlsSeen = append(tlsSeen, r.System+": "+r.TLS)
		}
	}
	if len(tlsSeen) > 0 {
		fmt.Fprintf(w, "negotiated: %s\n", strings.Join(tlsSeen, "; "))
	}
	if paced != "" {
		fmt.Fprintf(w, "paced columns: latency at a fixed %s (open loop); p99 added is over the direct plain-HTTP run of the same phase\n", paced)
	}
}

func ratio(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

func added(system string, v float64, baseline bool) string {
	if system == "direct" || !baseline {
		return "-"
	}
	return fmt.Sprintf("%+.0fµs", v)
}

func cores(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

func perReq(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fµs", v)
}

// runFreePort prints n distinct free TCP ports on 127.0.0.1, one a line. They are taken below the kernel's
// ephemeral range, so that the many outgoing connections of a run (load generator to proxy, proxy to target)
// cannot land on a port that a proxy of a later step is about to listen on.
func runFreePort(args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("freeport", flag.ContinueOnError)
	fset.SetOutput(stderr)
	n := fset.Int("n", 1, "how many ports")
	if err := fset.Parse(args); err != nil {
		return errUsage
	}
	ports, err := freePorts(*n, ephemeralStart())
	if err != nil {
		return err
	}
	for _, p := range ports {
		fmt.Fprintln(stdout, p)
	}
	return nil
}

// ephemeralStart returns the first port of the kernel's ephemeral range (Linux), or 32768.
func ephemeralStart() int {
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		fmt.Sscan(string(b), &lo)
	}
	return lo
}

// freePorts finds n ports in [10000, below) that 127.0.0.1 can listen on now, trying them from a random
// start so that two runs at once rarely collide.
func freePorts(n, below int) ([]int, error) {
	const first = 10000
	if below-first < n {
		return nil, fmt.Errorf("no room for %d ports between %d and %d", n, first, below)
	}
	span := below - first
	start := rand.IntN(span)
	var ports []int
	for i := 0; i < span && len(ports) < n; i++ {
		p := first + (start+i)%span
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue // taken
		}
		ln.Close()
		ports = append(ports, p)
	}
	if len(ports) < n {
		return nil, fmt.Errorf("found only %d free ports below %d", len(ports), below)
	}
	return ports, nil
}
