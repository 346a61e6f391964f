package jobconfig

import (
	"testing"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/engine"
)

// TestPageSizeUnsetIsAdaptive: a SyncJob without spec.pageSize (the API no longer
// defaults it) runs with the engine's adaptive size from its start size; a set pageSize
// is used as given, fixed.
func TestPageSizeUnsetIsAdaptive(t *testing.T) {
	for _, tc := range []struct {
		name     string
		set      int32
		want     int
		adaptive bool
	}{
		{"unset", 0, engine.StartPageSize, true},
		{"set", 750, 750, false},
		{"set to the start size", 2000, 2000, false},
	} {
		g := NewWithT(t)
		t.Setenv("BILLING_API_TOKEN", "tok-billing-123")
		t.Setenv("CRM_API_KEY", "key-crm-456")
		sj := httpJob()
		sj.Spec.PageSize = tc.set
		sj.Default()
		g.Expect(sj.Spec.PageSize).To(Equal(tc.set), "%s: Default leaves pageSize as it is", tc.name)
		cfg, closeAll, err := Build(t.Context(), logr.Discard(), sj, "run-1", "Manual")
		g.Expect(err).NotTo(HaveOccurred(), tc.name)
		closeAll()
		g.Expect(cfg.PageSize).To(Equal(tc.want), tc.name)
		g.Expect(cfg.AdaptivePageSize).To(Equal(tc.adaptive), tc.name)
	}
}
