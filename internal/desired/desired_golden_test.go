package desired

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// update rewrites the golden files: go test ./internal/desired -update
var update = flag.Bool("update", false, "rewrite testdata/*.golden.yaml from the current output")

// runnerImage is the controller-wide default image of the tests.
const runnerImage = "example.com/checkpointed/runner:test"

// minimalSyncJob sets only what every SyncJob has, defaulted as the apiserver would (the
// controller only ever sees defaulted SyncJobs).
func minimalSyncJob() *syncv1.SyncJob {
	sj := &syncv1.SyncJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: "billing", Name: "invoices", UID: "0b5e9a5c-4a4e-4b8e-9a41-2f7f6c1d0001"},
		Spec: syncv1.SyncJobSpec{
			Schedule: "0 2 * * *",
			Source: syncv1.SourceSpec{Name: "billing", Postgres: &syncv1.PostgresSource{
				DSN: syncv1.SecretKeyRef{Name: "billing-db", Key: "dsn"}, Table: "invoices"}},
			Sink: syncv1.SinkSpec{Postgres: &syncv1.PostgresSink{
				DSN: syncv1.SecretKeyRef{Name: "crm-db", Key: "dsn"}, Table: "crm_invoices"}},
			Key:     syncv1.KeySpec{Field: "billing_invoice_id"},
			Mapping: []syncv1.FieldMapping{{To: "status", From: "status"}},
		},
	}
	sj.Default()
	return sj
}

// fullSyncJob sets every field that shapes an owned object.
func fullSyncJob() *syncv1.SyncJob {
	sj := minimalSyncJob()
	sj.Spec.TimeZone = ptr.To("Europe/Berlin")
	sj.Spec.Suspend = ptr.To(true)
	sj.Spec.StartingDeadlineSeconds = ptr.To[int64](300)
	sj.Spec.Runner = syncv1.RunnerSpec{
		Image:           "registry.example.com/runner:v1.2.3",
		ImagePullPolicy: corev1.PullAlways,
		Resources: corev1.ResourceRequirements{
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
		},
		ActiveDeadlineSeconds:      ptr.To[int64](3600),
		SuccessfulJobsHistoryLimit: ptr.To[int32](5),
		FailedJobsHistoryLimit:     ptr.To[int32](1),
		Pod: &syncv1.PodOverrides{
			Labels:            map[string]string{"team": "revops", "app.kubernetes.io/managed-by": "someone-else"},
			Annotations:       map[string]string{"example.com/scrape": "false"},
			NodeSelector:      map[string]string{"pool": "batch"},
			Tolerations:       []corev1.Toleration{{Key: "batch", Operator: corev1.TolerationOpEqual, Value: "true", Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](60)}},
			PriorityClassName: "low",
			Env: []corev1.EnvVar{
				{Name: "LOG_LEVEL", Value: "debug"},
				{Name: "PROXY_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "proxy"}, Key: "token"}}},
				{Name: "REGION", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "site"}, Key: "region"}}},
				{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
			},
		},
	}
	return sj
}

// TestGolden renders every object this package builds as YAML and compares it with
// testdata/<name>.golden.yaml.
func TestGolden(t *testing.T) {
	opts := Options{RunnerImage: runnerImage}
	for _, tc := range []struct {
		name string
		obj  any
	}{
		{"serviceaccount", ServiceAccount(minimalSyncJob())},
		{"role", Role(minimalSyncJob())},
		{"rolebinding", RoleBinding(minimalSyncJob())},
		{"checkpoint-configmap", CheckpointConfigMap(minimalSyncJob())},
		{"checkpoint-configmap-delete-on-delete", CheckpointConfigMap(deleteCheckpointSyncJob())},
		{"lease", Lease(minimalSyncJob())},
		{"cronjob-minimal", CronJob(minimalSyncJob(), opts)},
		{"cronjob-full", CronJob(fullSyncJob(), opts)},
		{"job-run", RequestedJob(minimalSyncJob(), opts, "2026-07-01T09:00:00Z", nil)},
		{"job-backfill", RequestedJob(minimalSyncJob(), opts, "bf-1",
			&Backfill{From: "2026-05-01T00:00:00Z", To: "2026-06-01T00:00:00Z", Key: "bf-1"})},
		{"job-reset", ResetJob(minimalSyncJob(), opts, "reset-1", Reset{To: "2026-06-01T00:00:00Z"})},
		{"job-reset-full", ResetJob(fullSyncJob(), opts, "reset-2", Reset{To: "beginning", ClearFailedKeys: true})},
		{"job-preflight", PreflightJob(withGeneration(minimalSyncJob(), 3), opts, "invoices-pf-3")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := yaml.Marshal(tc.obj)
			g.Expect(err).NotTo(HaveOccurred())
			path := filepath.Join("testdata", tc.name+".golden.yaml")
			if *update {
				g.Expect(os.WriteFile(path, got, 0o644)).To(Succeed())
			}
			want, err := os.ReadFile(path)
			g.Expect(err).NotTo(HaveOccurred(), "run go test ./internal/desired -update to create it")
			g.Expect(string(got)).To(Equal(string(want)), "%s differs; run go test ./internal/desired -update if the change is intended", path)
		})
	}
}

// TestPure: the same SyncJob gives the same objects, and building one does not change
// the next (no shared slices or maps).
func TestPure(t *testing.T) {
	g := NewWithT(t)
	opts := Options{RunnerImage: runnerImage}
	a, err := yaml.Marshal(ResetJob(fullSyncJob(), opts, "t", Reset{To: "beginning"}))
	g.Expect(err).NotTo(HaveOccurred())
	_, _ = yaml.Marshal(RequestedJob(fullSyncJob(), opts, "t", &Backfill{From: "a", To: "b", Key: "t"}))
	b, err := yaml.Marshal(ResetJob(fullSyncJob(), opts, "t", Reset{To: "beginning"}))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(b)).To(Equal(string(a)))
	run, err := yaml.Marshal(RequestedJob(minimalSyncJob(), opts, "t", nil))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(run)).To(ContainSubstring("- sync\n"))
	g.Expect(string(run)).NotTo(ContainSubstring("- reset\n"))
}

// withGeneration sets the SyncJob's metadata.generation.
func withGeneration(sj *syncv1.SyncJob, gen int64) *syncv1.SyncJob {
	sj.Generation = gen
	return sj
}
