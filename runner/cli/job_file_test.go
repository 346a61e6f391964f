package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/test/synctest"
)

// TestJobFileMustBeOneSyncJob: `runner sync -f` and `plan -f` take exactly one SyncJob of
// this API version; a file that is something else, or holds more than the SyncJob, is
// refused with a message that says what is wrong, instead of being run in part.
func TestJobFileMustBeOneSyncJob(t *testing.T) {
	good := job{}.yaml()
	for _, tc := range []struct {
		name string
		file string
		want []string // substrings of the error; nil: the file loads
	}{
		{name: "one SyncJob", file: good},
		{name: "a leading separator and a trailing empty document", file: "---\n" + good + "\n---\n# nothing here\n"},
		{name: "missing apiVersion", file: strings.Replace(good, "apiVersion: sync.checkpointed.io/v1alpha1\n", "", 1),
			want: []string{`apiVersion is ""`, "want sync.checkpointed.io/v1alpha1"}},
		{name: "wrong apiVersion", file: strings.Replace(good, "sync.checkpointed.io/v1alpha1", "sync.checkpointed.io/v1beta1", 1),
			want: []string{`apiVersion is "sync.checkpointed.io/v1beta1"`, "want sync.checkpointed.io/v1alpha1"}},
		{name: "another group", file: strings.Replace(good, "sync.checkpointed.io/v1alpha1", "batch/v1", 1),
			want: []string{`apiVersion is "batch/v1"`}},
		{name: "wrong kind", file: strings.Replace(good, "kind: SyncJob", "kind: CronJob", 1),
			want: []string{`kind is "CronJob"`, "want SyncJob"}},
		{name: "missing kind", file: strings.Replace(good, "kind: SyncJob\n", "", 1),
			want: []string{`kind is ""`, "want SyncJob"}},
		{name: "a second SyncJob", file: good + "\n---\n" + strings.Replace(good, "invoices-to-crm", "other", 1),
			want: []string{"2 YAML documents", "exactly one SyncJob"}},
		{name: "a second document of another kind", file: good + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
			want: []string{"2 YAML documents", "exactly one SyncJob"}},
		{name: "unknown field", file: strings.Replace(good, "  pageSize:", "  pagesize: 3\n  pageSize:", 1),
			want: []string{`unknown field "spec.pagesize"`}},
		{name: "empty file", file: "",
			want: []string{"no SyncJob"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			path := filepath.Join(t.TempDir(), "job.yaml")
			g.Expect(os.WriteFile(path, []byte(tc.file), 0o600)).To(Succeed())
			sj, err := LoadJob(path)
			if tc.want == nil {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(sj.Name).To(Equal("invoices-to-crm"))
				return
			}
			g.Expect(err).To(HaveOccurred())
			for _, w := range tc.want {
				g.Expect(err.Error()).To(ContainSubstring(w))
			}
			g.Expect(err.Error()).To(ContainSubstring(path))
		})
	}
}

// TestSyncRefusesAFileWithTwoSyncJobs: the command refuses the file (usage of a wrong
// input, nothing written), rather than running the first document and ignoring the second.
func TestSyncRefusesAFileWithTwoSyncJobs(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, job{})
	insertInvoices(t, e.src, 1, 10, "2026-06-30 12:00:00+00")
	data, err := os.ReadFile(e.jobFile)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(os.WriteFile(e.jobFile, append(data, []byte("\n---\n"+job{Name: "second"}.yaml())...), 0o600)).To(Succeed())
	for _, cmd := range []string{"sync", "plan"} {
		r := e.run(cmd, "-f", e.jobFile, "--state-dir", e.state)
		g.Expect(r.code).NotTo(Equal(0), r.stderr)
		g.Expect(r.stderr).To(ContainSubstring("2 YAML documents"))
	}
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices`)).To(BeZero())
}
