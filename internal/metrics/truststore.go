package metrics

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// CRLInfo describes one revocation list of a trust store for the CRL gauges.
type CRLInfo struct {
	// ID is the revocation id the trust store gave the list.
	ID int64
	// ThisUpdate is the list's thisUpdate time.
	ThisUpdate time.Time
	// NextUpdate is the list's nextUpdate time; zero when the list has none,
	// in which case no time-to-nextUpdate series is exported for it.
	NextUpdate time.Time
}

// SetTrustStore records the state of the trust store called name, replacing
// what was recorded for it before: the number of CA certificates in its
// bundle, the number of revoked entries across its CRLs, and its CRLs. Call
// it when a configuration is compiled and applied.
func (m *Metrics) SetTrustStore(name string, caCount, revokedEntries int, crls []CRLInfo) {
	if m == nil {
		return
	}
	m.trustStores.set(name, caCount, revokedEntries, crls)
}

// DeleteTrustStore removes every series of the trust store called name, for
// a trust store the configuration no longer has.
func (m *Metrics) DeleteTrustStore(name string) {
	if m == nil {
		return
	}
	m.trustStores.delete(name)
}

// trustStoreCollector exports the trust-store gauges. It computes the CRL
// ages when scraped rather than when set, so a CRL going stale shows up
// without anyone touching the configuration.
type trustStoreCollector struct {
	now func() time.Time

	caCount      *prometheus.Desc
	revoked      *prometheus.Desc
	crlAge       *prometheus.Desc
	crlNextAfter *prometheus.Desc

	mu     sync.RWMutex
	stores map[string]trustStoreState
}

// trustStoreState is never modified once stored: set replaces it whole, so
// Collect can read it after releasing the lock.
type trustStoreState struct {
	caCount int
	revoked int
	crls    []crlState
}

type crlState struct {
	id         string // label value, formatted once
	thisUpdate time.Time
	nextUpdate time.Time
}

func newTrustStoreCollector(now func() time.Time) *trustStoreCollector {
	return &trustStoreCollector{
		now: now,
		caCount: prometheus.NewDesc("mtlslb_trust_store_ca_certificates",
			"CA certificates in the trust store's bundle. No ALB CloudWatch equivalent (DescribeTrustStores NumberOfCaCertificates).",
			[]string{labelTrustStore}, nil),
		revoked: prometheus.NewDesc("mtlslb_trust_store_revoked_entries",
			"Revoked certificate entries across the trust store's CRLs. No ALB CloudWatch equivalent (DescribeTrustStores TotalRevokedEntries).",
			[]string{labelTrustStore}, nil),
		crlAge: prometheus.NewDesc("mtlslb_crl_age_seconds",
			"Seconds since the CRL's thisUpdate. No ALB CloudWatch equivalent.",
			[]string{labelTrustStore, labelRevocationID}, nil),
		crlNextAfter: prometheus.NewDesc("mtlslb_crl_time_to_next_update_seconds",
			"Seconds until the CRL's nextUpdate; negative once the CRL is stale. Absent for a CRL without nextUpdate. No ALB CloudWatch equivalent.",
			[]string{labelTrustStore, labelRevocationID}, nil),
		stores: make(map[string]trustStoreState),
	}
}

func (c *trustStoreCollector) set(name string, caCount, revoked int, crls []CRLInfo) {
	st := trustStoreState{caCount: caCount, revoked: revoked, crls: make([]crlState, 0, len(crls))}
	// Revocation ids are unique within a trust store; should a caller ever
	// pass one twice, exporting both would make the registry fail the whole
	// scrape, so only the first is kept.
	seen := make(map[int64]bool, len(crls))
	for _, crl := range crls {
		if seen[crl.ID] {
			continue
		}
		seen[crl.ID] = true
		st.crls = append(st.crls, crlState{
			id:         strconv.FormatInt(crl.ID, 10),
			thisUpdate: crl.ThisUpdate,
			nextUpdate: crl.NextUpdate,
		})
	}
	// Trust store names are validated to letters, digits and hyphens by the
	// configuration, but an invalid UTF-8 label value would fail the whole
	// scrape, so it is made valid here rather than trusted.
	name = strings.ToValidUTF8(name, "\uFFFD")

	c.mu.Lock()
	defer c.mu.Unlock()
	c.stores[name] = st
}

func (c *trustStoreCollector) delete(name string) {
	name = strings.ToValidUTF8(name, "\uFFFD")

	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.stores, name)
}

// Describe implements prometheus.Collector.
func (c *trustStoreCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.caCount
	ch <- c.revoked
	ch <- c.crlAge
	ch <- c.crlNextAfter
}

// Collect implements prometheus.Collector.
func (c *trustStoreCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.RLock()
	stores := make(map[string]trustStoreState, len(c.stores))
	for name, st := range c.stores {
		stores[name] = st
	}
	c.mu.RUnlock()

	// One reading of the clock for the whole scrape keeps the CRL series of
	// one scrape consistent with each other.
	now := c.now()
	for name, st := range stores {
		ch <- prometheus.MustNewConstMetric(c.caCount, prometheus.GaugeValue, float64(st.caCount), name)
		ch <- prometheus.MustNewConstMetric(c.revoked, prometheus.GaugeValue, float64(st.revoked), name)
		for _, crl := range st.crls {
			if !crl.thisUpdate.IsZero() {
				ch <- prometheus.MustNewConstMetric(c.crlAge, prometheus.GaugeValue, now.Sub(crl.thisUpdate).Seconds(), name, crl.id)
			}
			if !crl.nextUpdate.IsZero() {
				ch <- prometheus.MustNewConstMetric(c.crlNextAfter, prometheus.GaugeValue, crl.nextUpdate.Sub(now).Seconds(), name, crl.id)
			}
		}
	}
}
