package kubectlsyncjob

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/desired"
	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// update rewrites the golden files: go test ./internal/kubectlsyncjob -run TestExplainJob -update
var update = flag.Bool("update", false, "rewrite testdata/*.golden.yaml from the current output")

// testSyncJob is a defaulted SyncJob with Pod overrides, as the controller sees it.
func testSyncJob() *syncv1.SyncJob {
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
			Runner: syncv1.RunnerSpec{Pod: &syncv1.PodOverrides{
				Labels: map[string]string{"team": "revops"},
				Env:    []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "debug"}},
			}},
		},
	}
	sj.Default()
	return sj
}

// cronJobOf is the CronJob the controller builds for sj, as the API returns it.
func cronJobOf(t *testing.T, sj *syncv1.SyncJob) *batchv1.CronJob {
	b, err := json.Marshal(desired.CronJob(sj, desired.Options{RunnerImage: "example.com/checkpointed/runner:test"}))
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	cj := &batchv1.CronJob{}
	NewWithT(t).Expect(json.Unmarshal(b, cj)).To(Succeed())
	return cj
}

// TestExplainJob: the explain Job is the CronJob's job template — same image,
// ServiceAccount, credentials from Secrets and Pod settings — running `runner explain
// --in-cluster ID`, with no retries, a deadline, a TTL, and without the label that makes the
// controller count a Job as a run of the SyncJob. Compared with testdata/explain-job.golden.yaml.
func TestExplainJob(t *testing.T) {
	g := NewWithT(t)
	sj := testSyncJob()
	cj := cronJobOf(t, sj)
	job := ExplainJob(cj, sj.Name, "inv_10492", "a1b2c3", 2*time.Minute)

	g.Expect(job.Name).To(Equal("invoices-explain-a1b2c3"))
	g.Expect(job.Namespace).To(Equal("billing"))
	g.Expect(job.Labels).NotTo(HaveKey(runcontract.LabelJob), "the controller would take it for a run")
	g.Expect(job.Spec.Template.Labels).NotTo(HaveKey(runcontract.LabelJob))
	g.Expect(job.Labels).To(HaveKeyWithValue(LabelExplainFor, "invoices"))
	g.Expect(job.Spec.Template.Labels).To(HaveKeyWithValue("team", "revops"))
	g.Expect(job.Annotations).To(HaveKeyWithValue(AnnotationExplainID, "inv_10492"))
	g.Expect(job.Spec.BackoffLimit).To(Equal(ptr.To[int32](0)))
	g.Expect(job.Spec.TTLSecondsAfterFinished).To(Equal(ptr.To[int32](300)))
	g.Expect(job.Spec.ActiveDeadlineSeconds).To(Equal(ptr.To[int64](120)))
	pod := job.Spec.Template.Spec
	tmpl := cj.Spec.JobTemplate.Spec.Template.Spec
	g.Expect(pod.ServiceAccountName).To(Equal("invoices-runner"))
	g.Expect(pod.Containers).To(HaveLen(1))
	g.Expect(pod.Containers[0].Args).To(Equal([]string{"explain", "--in-cluster", "inv_10492"}))
	g.Expect(pod.Containers[0].Image).To(Equal(tmpl.Containers[0].Image))
	g.Expect(pod.Containers[0].Env).To(Equal(tmpl.Containers[0].Env), "the same SyncJob, credentials and Pod env")
	g.Expect(tmpl.Containers[0].Args).To(Equal(runcontract.SyncArgs), "the CronJob's template is not changed")
	g.Expect(job.Spec.Template.Spec.Containers[0].Env).To(ContainElement(corev1.EnvVar{Name: "LOG_LEVEL", Value: "debug"}))

	// A long SyncJob name still gives a valid Job name.
	long := ExplainJob(cj, "a-very-long-syncjob-name-that-fills-nearly-all-of-the-63", "7", "a1b2c3", time.Minute)
	g.Expect(len(long.Name)).To(BeNumerically("<=", 63))
	g.Expect(long.Name).To(HaveSuffix("-explain-a1b2c3"))

	got, err := yaml.Marshal(job)
	g.Expect(err).NotTo(HaveOccurred())
	golden := filepath.Join("testdata", "explain-job.golden.yaml")
	if *update {
		g.Expect(os.WriteFile(golden, got, 0o644)).To(Succeed())
	}
	want, err := os.ReadFile(golden)
	g.Expect(err).NotTo(HaveOccurred(), "run go test ./internal/kubectlsyncjob -run TestExplainJob -update")
	g.Expect(string(got)).To(Equal(string(want)))
}

// TestSplitLog: the answer is what explain printed; the runner's JSON log lines go apart.
func TestSplitLog(t *testing.T) {
	g := NewWithT(t)
	answer, logs := splitLog([]byte("{\"logger\":\"\",\"ts\":\"x\",\"level\":0,\"msg\":\"connected\"}\nFailed: 7 fails to map\n  source: {has 7}\n"))
	g.Expect(string(answer)).To(Equal("Failed: 7 fails to map\n  source: {has 7}\n"))
	g.Expect(string(logs)).To(ContainSubstring(`"msg":"connected"`))
}
