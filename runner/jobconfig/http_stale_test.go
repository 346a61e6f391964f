package jobconfig

import (
	"testing"

	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi"
	"github.com/checkpointed/checkpointed/runner/mapping"
)

// TestHTTPSinkStaleWhen: spec.sink.http.staleWhen reaches the sink as its stale match;
// without it the sink has none (no 409 or 412 is taken for a stale write).
func TestHTTPSinkStaleWhen(t *testing.T) {
	g := NewWithT(t)
	sj := httpJob()
	sj.Default()
	s := &sj.Spec
	mspec := mappingSpec(s)
	mspec.Fields = mspec.Fields[:1]
	m, err := mapping.New(mspec)
	g.Expect(err).NotTo(HaveOccurred())

	g.Expect(httpSinkConfig(s.Sink.HTTP, m, s.Deletes).StaleWhen).To(BeNil())

	s.Sink.HTTP.StaleWhen = &syncv1.HTTPStaleWhen{Status: []int32{409, 412}, BodyContains: "VERSION_CONFLICT"}
	sink := httpSinkConfig(s.Sink.HTTP, m, s.Deletes)
	g.Expect(sink.StaleWhen).To(Equal(&httpapi.StaleMatch{Statuses: []int{409, 412}, BodyContains: "VERSION_CONFLICT"}))
	g.Expect(sink.Validate()).To(Succeed())
}
