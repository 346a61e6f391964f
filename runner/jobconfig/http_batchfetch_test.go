package jobconfig

import (
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/utils/ptr"
)

// TestHTTPSourceBatchFetch: spec.source.http.getByIdsUrl and getByIdsMax reach the
// connector as they are (the defaulted 100, or an explicit value), and make a valid
// source config that fetches by id without getByIdUrl.
func TestHTTPSourceBatchFetch(t *testing.T) {
	for _, tc := range []struct {
		max  *int32
		want int
	}{{nil, 100}, {ptr.To[int32](250), 250}, {ptr.To[int32](1), 1}} {
		g := NewWithT(t)
		sj := httpJob()
		sj.Spec.Source.HTTP.GetByIDsURL = "https://billing.example/v1/invoices?ids={ids}"
		sj.Spec.Source.HTTP.GetByIDsMax = tc.max
		sj.Default()
		src := httpSourceConfig(sj.Spec.Source.HTTP)
		g.Expect(src.GetByIDsURL).To(Equal("https://billing.example/v1/invoices?ids={ids}"))
		g.Expect(src.GetByIDsMax).To(Equal(tc.want))
		g.Expect(src.GetByIDURL).To(BeEmpty())
		g.Expect(src.Validate()).To(Succeed())
	}
}
