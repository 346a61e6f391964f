package metrics_test

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/rules"
	"sigs.k8s.io/yaml"

	"github.com/checkpointed/checkpointed/internal/metrics"
)

const rulesFile = "../../config/prometheus/rules.yaml"

func parseRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.ParseFile(rulesFile, false, model.UTF8Validation, parser.NewParser(parser.Options{}), nil)
	if len(errs) > 0 {
		t.Fatalf("parse %s: %v", rulesFile, errs)
	}
	return groups
}

func alertRule(t *testing.T, name string) *rules.AlertingRule {
	t.Helper()
	for _, g := range parseRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert != name {
				continue
			}
			expr, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr)
			if err != nil {
				t.Fatalf("alert %s: expr: %v", name, err)
			}
			return rules.NewAlertingRule(r.Alert, expr, time.Duration(r.For), 0,
				labels.FromMap(r.Labels), labels.FromMap(r.Annotations), labels.EmptyLabels(), "", true, nil)
		}
	}
	t.Fatalf("no alert %s in %s", name, rulesFile)
	return nil
}

// TestAlertsFireOnFixtureSeries evaluates each alert every minute over fixture series, as
// Prometheus' rule manager (and `promtool test rules`) does, and checks which SyncJobs it
// fires for at the end.
func TestAlertsFireOnFixtureSeries(t *testing.T) {
	cases := []struct {
		alert  string
		series string
		at     time.Duration
		firing []string // syncjob labels
	}{
		{"SyncJobFailed", `
checkpointed_syncjob_last_run_phase{namespace="ns",syncjob="bad",phase="Failed"} 1x30
checkpointed_syncjob_last_run_phase{namespace="ns",syncjob="good",phase="Failed"} 0x30
checkpointed_syncjob_last_run_phase{namespace="ns",syncjob="brief",phase="Failed"} 0x20 1x10`, 20 * time.Minute, []string{"bad"}},
		{"SyncJobPartiallySucceeded", `
checkpointed_syncjob_last_run_phase{namespace="ns",syncjob="partial",phase="PartiallySucceeded"} 1x30
checkpointed_syncjob_last_run_phase{namespace="ns",syncjob="good",phase="PartiallySucceeded"} 0x30`, 20 * time.Minute, []string{"partial"}},
		{"SyncJobDriftDetected", `
checkpointed_syncjob_drift_detected{namespace="ns",syncjob="drifted"} 1x30
checkpointed_syncjob_drift_detected{namespace="ns",syncjob="good"} 0x30`, 20 * time.Minute, []string{"drifted"}},
		{"SyncJobNotReady", `
checkpointed_syncjob_ready{namespace="ns",syncjob="down"} 0x30
checkpointed_syncjob_ready{namespace="ns",syncjob="flap"} 0x10 1x20
checkpointed_syncjob_ready{namespace="ns",syncjob="good"} 1x30`, 20 * time.Minute, []string{"down"}},
		{"SyncJobFailedKeysGrowing", `
checkpointed_syncjob_failed_keys{namespace="ns",syncjob="growing"} 0+1x60
checkpointed_syncjob_failed_keys{namespace="ns",syncjob="flat"} 3x60
checkpointed_syncjob_failed_keys{namespace="ns",syncjob="draining"} 60-1x60`, 40 * time.Minute, []string{"growing"}},
		// Last success at t=0 (Unix 0): stale after 2h; a SyncJob succeeding every
		// minute is never stale.
		{"SyncJobStale", `
checkpointed_syncjob_last_success_timestamp_seconds{namespace="ns",syncjob="stale"} 0x200
checkpointed_syncjob_last_success_timestamp_seconds{namespace="ns",syncjob="good"} 0+60x200`, 180 * time.Minute, []string{"stale"}},
	}
	for _, tc := range cases {
		t.Run(tc.alert, func(t *testing.T) {
			g := NewWithT(t)
			st := promqltest.LoadedStorage(t, "load 1m"+tc.series)
			engine := promqltest.NewTestEngine(t, false, 5*time.Minute, 1e6)
			rule := alertRule(t, tc.alert)
			query := rules.EngineQueryFunc(engine, st)
			for ts := time.Duration(0); ts <= tc.at; ts += time.Minute {
				_, err := rule.Eval(context.Background(), 0, time.Unix(0, 0).Add(ts).UTC(), query, nil, 0)
				g.Expect(err).NotTo(HaveOccurred())
			}
			var firing []string
			for _, a := range rule.ActiveAlerts() {
				if a.State == rules.StateFiring {
					firing = append(firing, a.Labels.Get("syncjob"))
				}
			}
			slices.Sort(firing)
			g.Expect(firing).To(Equal(tc.firing))
		})
	}
}

// TestEveryAlertHasAFixture keeps TestAlertsFireOnFixtureSeries complete.
func TestEveryAlertHasAFixture(t *testing.T) {
	var alerts []string
	for _, g := range parseRules(t).Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
		}
	}
	slices.Sort(alerts)
	NewWithT(t).Expect(alerts).To(Equal([]string{"SyncJobDriftDetected", "SyncJobFailed",
		"SyncJobFailedKeysGrowing", "SyncJobNotReady", "SyncJobPartiallySucceeded", "SyncJobStale"}))
}

// TestRuleCopiesEqual: the chart's rules file and the PrometheusRule's spec are the rules
// of config/prometheus/rules.yaml.
func TestRuleCopiesEqual(t *testing.T) {
	g := NewWithT(t)
	src, err := os.ReadFile(rulesFile)
	g.Expect(err).NotTo(HaveOccurred())
	chart, err := os.ReadFile("../../charts/checkpointed/files/prometheus-rules.yaml")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(chart)).To(Equal(string(src)))

	var want any
	g.Expect(yaml.Unmarshal(src, &want)).To(Succeed())
	crb, err := os.ReadFile("../../config/prometheus/prometheusrule.yaml")
	g.Expect(err).NotTo(HaveOccurred())
	var cr struct {
		Kind string `json:"kind"`
		Spec any    `json:"spec"`
	}
	g.Expect(yaml.Unmarshal(crb, &cr)).To(Succeed())
	g.Expect(cr.Kind).To(Equal("PrometheusRule"))
	g.Expect(cr.Spec).To(Equal(want))
}

var metricName = regexp.MustCompile(`checkpointed_[a-z_]+`)

// TestRulesAndDashboardUseExportedMetrics: every metric name in the rules and the Grafana
// dashboard is one the Collector exports.
func TestRulesAndDashboardUseExportedMetrics(t *testing.T) {
	g := NewWithT(t)
	exported := metrics.Names()
	var used []string
	for _, gr := range parseRules(t).Groups {
		for _, r := range gr.Rules {
			used = append(used, metricName.FindAllString(r.Expr, -1)...)
		}
	}
	g.Expect(used).NotTo(BeEmpty())
	raw, err := os.ReadFile("../../config/grafana/checkpointed-dashboard.json")
	g.Expect(err).NotTo(HaveOccurred())
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	g.Expect(json.Unmarshal(raw, &dash)).To(Succeed())
	g.Expect(dash.Panels).NotTo(BeEmpty())
	for _, p := range dash.Panels {
		g.Expect(p.Targets).NotTo(BeEmpty(), "panel %q", p.Title)
		for _, tg := range p.Targets {
			names := metricName.FindAllString(tg.Expr, -1)
			g.Expect(names).NotTo(BeEmpty(), "panel %q: %s", p.Title, tg.Expr)
			used = append(used, names...)
		}
	}
	for _, n := range used {
		g.Expect(exported).To(ContainElement(n))
	}
}
