package desired

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// deleteCheckpointSyncJob asks for its checkpoint to be deleted with it.
func deleteCheckpointSyncJob() *syncv1.SyncJob {
	sj := minimalSyncJob()
	sj.Annotations = map[string]string{syncv1.DeleteCheckpointOnDeleteAnnotation: "true"}
	return sj
}

// TestCheckpointIdentity: the identity changes with what the cursor is a position in
// (source or sink kind, Secret, table, URL host and path) and with nothing else, and never
// holds a URL's query or user info.
func TestCheckpointIdentity(t *testing.T) {
	base := CheckpointIdentity(minimalSyncJob())
	httpSource := func(u string) func(*syncv1.SyncJob) {
		return func(sj *syncv1.SyncJob) {
			sj.Spec.Source = syncv1.SourceSpec{HTTP: &syncv1.HTTPSource{URL: u}}
		}
	}
	for _, tc := range []struct {
		name    string
		change  func(*syncv1.SyncJob)
		same    bool
		want    string
		notHave string
	}{
		{name: "unchanged", change: func(*syncv1.SyncJob) {}, same: true,
			want: "source=postgres:billing-db/dsn:invoices;sink=postgres:crm-db/dsn:crm_invoices"},
		{name: "schedule and mapping do not count", same: true, change: func(sj *syncv1.SyncJob) {
			sj.Spec.Schedule = "*/5 * * * *"
			sj.Spec.Mapping = append(sj.Spec.Mapping, syncv1.FieldMapping{To: "x", From: "y"})
			sj.Spec.Source.Name = "renamed"
		}},
		{name: "source table", change: func(sj *syncv1.SyncJob) { sj.Spec.Source.Postgres.Table = "invoices_v2" }},
		{name: "source Secret", change: func(sj *syncv1.SyncJob) { sj.Spec.Source.Postgres.DSN.Name = "other-db" }},
		{name: "source Secret key", change: func(sj *syncv1.SyncJob) { sj.Spec.Source.Postgres.DSN.Key = "dsn2" }},
		{name: "sink table", change: func(sj *syncv1.SyncJob) { sj.Spec.Sink.Postgres.Table = "crm2" }},
		{name: "sink kind", change: func(sj *syncv1.SyncJob) {
			sj.Spec.Sink = syncv1.SinkSpec{HTTP: &syncv1.HTTPSink{URL: "https://crm.example.com/v1/invoices"}}
		}},
		{name: "http source: host and path, no query or user", change: httpSource("https://user:pw@Billing.example.com/v1/invoices?token=s3cret"),
			want: "source=http:billing.example.com/v1/invoices;sink=postgres:crm-db/dsn:crm_invoices", notHave: "s3cret"},
		{name: "unparseable URL is hashed", change: httpSource("::not a url s3cret"), notHave: "s3cret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			sj := minimalSyncJob()
			tc.change(sj)
			got := CheckpointIdentity(sj)
			if tc.same {
				g.Expect(got).To(Equal(base))
			} else {
				g.Expect(got).NotTo(Equal(base))
			}
			if tc.want != "" {
				g.Expect(got).To(Equal(tc.want))
			}
			if tc.notHave != "" {
				g.Expect(got).NotTo(ContainSubstring(tc.notHave))
				g.Expect(got).NotTo(ContainSubstring("pw"))
			}
		})
	}
}

// TestCheckpointOwnerReferences: the checkpoint outlives its SyncJob unless the SyncJob
// asks otherwise with exactly "true".
func TestCheckpointOwnerReferences(t *testing.T) {
	g := NewWithT(t)
	g.Expect(CheckpointOwnerReferences(minimalSyncJob())).To(BeEmpty())
	sj := minimalSyncJob()
	sj.Annotations = map[string]string{syncv1.DeleteCheckpointOnDeleteAnnotation: "yes"}
	g.Expect(CheckpointOwnerReferences(sj)).To(BeEmpty())
	refs := CheckpointOwnerReferences(deleteCheckpointSyncJob())
	g.Expect(refs).To(HaveLen(1))
	g.Expect(refs[0].UID).To(Equal(minimalSyncJob().UID))
}

// TestArchivedCheckpoint: the archive keeps the data and annotations, is findable by the
// SyncJob's label, owned by nothing, and named after the old SyncJob's UID.
func TestArchivedCheckpoint(t *testing.T) {
	g := NewWithT(t)
	sj := minimalSyncJob()
	old := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "invoices-checkpoint", ResourceVersion: "42",
		Annotations: map[string]string{AnnotationCheckpointOwnerUID: "ABCDEF12-3456", AnnotationCheckpointIdentity: "source=x;sink=y"}},
		Data: map[string]string{"checkpoint.json": "{}"}}
	a := ArchivedCheckpoint(sj, old)
	g.Expect(a.Name).To(Equal("invoices-checkpoint-archived-abcdef12"))
	g.Expect(a.Namespace).To(Equal("billing"))
	g.Expect(a.Data).To(Equal(old.Data))
	g.Expect(a.Annotations).To(HaveKeyWithValue(AnnotationCheckpointIdentity, "source=x;sink=y"))
	g.Expect(a.Labels).To(HaveKeyWithValue("sync.checkpointed.io/syncjob", "invoices"))
	g.Expect(a.Labels).To(HaveKeyWithValue(LabelCheckpointArchived, "true"))
	g.Expect(a.OwnerReferences).To(BeEmpty())
	delete(old.Annotations, AnnotationCheckpointOwnerUID)
	g.Expect(ArchivedCheckpointName(sj, old)).To(Equal("invoices-checkpoint-archived-rv42"))
}
