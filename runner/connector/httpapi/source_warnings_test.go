package httpapi

import (
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestOffsetPaginationWarns: a source paging by offset warns (connector.Warner) that a run
// can miss records; no other pagination does.
func TestOffsetPaginationWarns(t *testing.T) {
	for _, p := range []Pagination{
		{Type: PageOffset, TokenParam: "offset"},
		{Type: PageNextToken, TokenPath: "next", TokenParam: "page_token"},
		{Type: PageLinkHeader},
		{Type: PageCursorID},
	} {
		t.Run(p.Type, func(t *testing.T) {
			g := NewWithT(t)
			cfg := sourceConfig("http://billing.example/invoices")
			cfg.Pagination = p
			cfg.AfterIDParam = "after_id"
			src, err := NewSource(cfg, newClient(), SourceOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			var w connector.Warner = src
			if p.Type == PageOffset {
				g.Expect(w.Warnings()).To(ConsistOf(ContainSubstring("offset pagination")))
			} else {
				g.Expect(w.Warnings()).To(BeEmpty())
			}
		})
	}
}
