package jobconfig

import (
	"testing"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// TestBuildRefusesURLsOffTheDeclaredHost: a URL template of the spec on another host than
// its connector's url fails the build (the run's SetupFailed) naming the spec field, and
// the credentials are never sent there.
func TestBuildRefusesURLsOffTheDeclaredHost(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*syncv1.SyncJob)
		want   []string
	}{
		{"getByIdUrl", func(sj *syncv1.SyncJob) {
			sj.Spec.Source.HTTP.GetByIDURL = "https://attacker.example/v1/invoices/{id}"
		}, []string{"spec.source.http", "getByIdUrl", "https://billing.example"}},
		{"getByIdsUrl", func(sj *syncv1.SyncJob) {
			sj.Spec.Source.HTTP.GetByIDsURL = "https://attacker.example/v1/invoices?ids={ids}"
		}, []string{"spec.source.http", "getByIdsUrl", "https://billing.example"}},
		{"searchUrl and updateUrl", func(sj *syncv1.SyncJob) {
			h := sj.Spec.Sink.HTTP
			h.Mode, h.URL = "LookupThenWrite", "https://crm.example/invoices"
			h.SearchURL = "https://attacker.example/search?key={key}"
			h.UpdateURL = "https://crm.example/invoices/{id}"
		}, []string{"spec.sink.http", "searchUrl", "https://crm.example"}},
		{"updateUrl", func(sj *syncv1.SyncJob) {
			h := sj.Spec.Sink.HTTP
			h.Mode, h.URL = "LookupThenWrite", "https://crm.example/invoices"
			h.SearchURL = "https://crm.example/search?key={key}"
			h.UpdateURL = "http://crm.example/invoices/{id}"
		}, []string{"spec.sink.http", "updateUrl", "https://crm.example"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			t.Setenv("BILLING_API_TOKEN", "tok-billing-123")
			t.Setenv("CRM_API_KEY", "key-crm-456")
			sj := httpJob()
			tc.change(sj)
			sj.Default()
			_, closeAll, err := Build(t.Context(), logr.Discard(), sj, "run-1", "Manual")
			if closeAll != nil {
				defer closeAll()
			}
			g.Expect(err).To(HaveOccurred())
			for _, w := range tc.want {
				g.Expect(err.Error()).To(ContainSubstring(w))
			}
			g.Expect(err.Error()).NotTo(ContainSubstring("tok-billing-123"))
			g.Expect(err.Error()).NotTo(ContainSubstring("key-crm-456"))
		})
	}
}
