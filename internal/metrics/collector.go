// Package metrics exports each SyncJob's status as Prometheus series. The Collector reads
// the SyncJobs at scrape time (from the manager's cache), so it keeps no copy of status
// that could drift, and a deleted SyncJob's series disappear at the next scrape.
package metrics

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// Metric names exported by the Collector. Rules and dashboards use only these.
const (
	Ready                = "checkpointed_syncjob_ready"
	LastRunPhase         = "checkpointed_syncjob_last_run_phase"
	LastSuccessTimestamp = "checkpointed_syncjob_last_success_timestamp_seconds"
	CursorLag            = "checkpointed_syncjob_cursor_lag_seconds"
	LastRunRecords       = "checkpointed_syncjob_last_run_records"
	LastRunDuration      = "checkpointed_syncjob_last_run_duration_seconds"
	RunsTotal            = "checkpointed_syncjob_runs_total"
	DriftMismatched      = "checkpointed_syncjob_drift_mismatched_records"
	DriftDetected        = "checkpointed_syncjob_drift_detected"
	FailedKeys           = "checkpointed_syncjob_failed_keys"
)

// Names lists every metric name the Collector exports.
func Names() []string {
	return []string{Ready, LastRunPhase, LastSuccessTimestamp, CursorLag, LastRunRecords,
		LastRunDuration, RunsTotal, DriftMismatched, DriftDetected, FailedKeys}
}

// Phases are the values of the phase label of LastRunPhase: one series per phase, 1 for
// the last run's phase and 0 for the others.
var Phases = []syncv1.RunPhase{syncv1.RunPhaseRunning, syncv1.RunPhaseSucceeded,
	syncv1.RunPhasePartiallySucceeded, syncv1.RunPhaseFailed, syncv1.RunPhaseInterrupted}

// TriggerUnknown is the trigger label of a run seen only in status.history (which does not
// record the trigger).
const TriggerUnknown = "Unknown"

// maxSeenRuns bounds the run ids remembered per SyncJob for RunsTotal: more than the
// history's 10 entries plus lastRun.
const maxSeenRuns = 32

var labels = []string{"namespace", "syncjob"}

var (
	descReady = prometheus.NewDesc(Ready,
		"1 when the SyncJob's Ready condition is True, else 0.", labels, nil)
	descPhase = prometheus.NewDesc(LastRunPhase,
		"1 for the phase the last run ended in (status.lastRun.phase), 0 for the other phases.",
		append(labels, "phase"), nil)
	descLastSuccess = prometheus.NewDesc(LastSuccessTimestamp,
		"Unix time of the last Succeeded or PartiallySucceeded run (status.lastSuccessfulRunTime).", labels, nil)
	descCursorLag = prometheus.NewDesc(CursorLag,
		"Seconds between now and the committed cursor's updatedAt (status.cursor.updatedAt).", labels, nil)
	descRecords = prometheus.NewDesc(LastRunRecords,
		"Records of the last run by outcome (read, upserted, unchanged, skipped, failed, deleted, same_version: re-read inside the safety gap and not written, the sink holding their version); none for a run whose counts are unknown (the runner died before reporting).",
		append(labels, "outcome"), nil)
	descDuration = prometheus.NewDesc(LastRunDuration,
		"Seconds from the last run's start to its completion.", labels, nil)
	descRuns = prometheus.NewDesc(RunsTotal,
		"Completed runs seen by this manager process, by phase and trigger (each run id counted once; resets when the manager restarts).",
		append(labels, "phase", "trigger"), nil)
	descMismatched = prometheus.NewDesc(DriftMismatched,
		"Sampled records whose sink copy differs from the source in the last run's drift check.", labels, nil)
	descDrift = prometheus.NewDesc(DriftDetected,
		"1 when the last run's drift check found drift (counts or sampled fields differ), else 0.", labels, nil)
	descFailedKeys = prometheus.NewDesc(FailedKeys,
		"Failed keys pending retry in the checkpoint after the last run (status.lastRun.failedKeys).", labels, nil)
)

// Collector is a prometheus.Collector over the SyncJobs a Lister lists.
type Collector struct {
	list  Lister
	clock clock.PassiveClock
	log   logr.Logger

	mu   sync.Mutex
	runs map[types.UID]*runCounter
}

type runKey struct{ phase, trigger string }

type runCounter struct {
	seen   map[string]bool
	order  []string
	counts map[runKey]float64
}

// NewCollector returns a Collector listing SyncJobs with list (CacheLister: the manager's
// cache) and computing ages with clk.
func NewCollector(list Lister, clk clock.PassiveClock, log logr.Logger) *Collector {
	return &Collector{list: list, clock: clk, log: log, runs: map[types.UID]*runCounter{}}
}

// Describe sends every metric description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descReady, descPhase, descLastSuccess, descCursorLag,
		descRecords, descDuration, descRuns, descMismatched, descDrift, descFailedKeys} {
		ch <- d
	}
}

// Collect lists the SyncJobs and sends their series. A list error yields no series (the
// scrape still succeeds for the manager's other metrics) and is logged as an error, except
// ErrNotSynced: the manager's first seconds, logged at debug level.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := c.list(ctx)
	if errors.Is(err, ErrNotSynced) {
		c.log.V(1).Info("no SyncJob series in this scrape: " + err.Error())
		return
	}
	if err != nil {
		c.log.Error(err, "list SyncJobs for metrics")
		return
	}
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	live := make(map[types.UID]bool, len(list))
	for _, sj := range list {
		live[sj.UID] = true
		c.collectOne(ch, sj, now)
	}
	for uid := range c.runs {
		if !live[uid] {
			delete(c.runs, uid)
		}
	}
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, lv ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *Collector) collectOne(ch chan<- prometheus.Metric, sj *syncv1.SyncJob, now time.Time) {
	ns, name := sj.Namespace, sj.Name
	st := &sj.Status
	gauge(ch, descReady, boolValue(meta.IsStatusConditionTrue(st.Conditions, syncv1.ConditionReady)), ns, name)
	if st.LastSuccessfulRunTime != nil {
		gauge(ch, descLastSuccess, float64(st.LastSuccessfulRunTime.UnixNano())/1e9, ns, name)
	}
	if st.Cursor != nil && st.Cursor.UpdatedAt != "" {
		if t, err := time.Parse(time.RFC3339Nano, st.Cursor.UpdatedAt); err == nil {
			gauge(ch, descCursorLag, now.Sub(t).Seconds(), ns, name)
		}
	}
	if lr := st.LastRun; lr != nil {
		for _, p := range Phases {
			gauge(ch, descPhase, boolValue(lr.Phase == p), ns, name, string(p))
		}
		// A run recorded for a runner that died has no counts: no series rather than 0.
		if !lr.CountsUnknown {
			for _, o := range []struct {
				outcome string
				n       int64
			}{{"read", lr.Read}, {"upserted", lr.Upserted}, {"unchanged", lr.Unchanged},
				{"skipped", lr.Skipped}, {"failed", lr.Failed}, {"deleted", lr.Deleted}, {"same_version", lr.SameVersion}} {
				gauge(ch, descRecords, float64(o.n), ns, name, o.outcome)
			}
		}
		if lr.StartTime != nil && lr.CompletionTime != nil {
			gauge(ch, descDuration, lr.CompletionTime.Sub(lr.StartTime.Time).Seconds(), ns, name)
		}
		if lr.FailedKeys != nil {
			gauge(ch, descFailedKeys, float64(*lr.FailedKeys), ns, name)
		}
		if rc := lr.Reconciliation; rc != nil {
			gauge(ch, descMismatched, float64(rc.Mismatched), ns, name)
			gauge(ch, descDrift, boolValue(rc.Drift), ns, name)
		}
	}
	rc := c.countRuns(sj)
	if rc == nil {
		return
	}
	for k, v := range rc.counts {
		ch <- prometheus.MustNewConstMetric(descRuns, prometheus.CounterValue, v, ns, name, k.phase, k.trigger)
	}
}

// countRuns counts each completed run id of status.lastRun and status.history once; nil
// for a SyncJob that has never run (no counter is kept for it: with thousands of SyncJobs
// new at once their empty counters were a megabyte per 3,000 of the manager's heap).
func (c *Collector) countRuns(sj *syncv1.SyncJob) *runCounter {
	rc := c.runs[sj.UID]
	if rc == nil && sj.Status.LastRun == nil && len(sj.Status.History) == 0 {
		return nil
	}
	if rc == nil {
		rc = &runCounter{seen: map[string]bool{}, counts: map[runKey]float64{}}
		c.runs[sj.UID] = rc
	}
	add := func(id string, phase syncv1.RunPhase, trigger string) {
		if id == "" || phase == "" || phase == syncv1.RunPhaseRunning || rc.seen[id] {
			return
		}
		rc.seen[id] = true
		rc.order = append(rc.order, id)
		if len(rc.order) > maxSeenRuns {
			delete(rc.seen, rc.order[0])
			rc.order = rc.order[1:]
		}
		rc.counts[runKey{string(phase), trigger}]++
	}
	st := &sj.Status
	if lr := st.LastRun; lr != nil {
		trigger := lr.Trigger
		if trigger == "" {
			trigger = TriggerUnknown
		}
		add(lr.RunID, lr.Phase, trigger)
	}
	// History is newest first: count the older runs oldest first.
	for i := len(st.History) - 1; i >= 0; i-- {
		h := st.History[i]
		add(h.RunID, h.Phase, TriggerUnknown)
	}
	return rc
}
