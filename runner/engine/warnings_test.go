package engine

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
)

// warningSource is a fake source that warns (connector.Warner).
type warningSource struct {
	*fakeSource
	warnings []string
}

func (w warningSource) Warnings() []string { return w.warnings }

// TestSourceWarningsAreRecorded: what a source cannot guarantee (connector.Warner) is in
// the record of every run reading it, each warning once, dry runs included.
func TestSourceWarningsAreRecorded(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(genRecords(7, 1))
	cfg := e.config()
	cfg.Source = warningSource{e.src, []string{"offset pagination can miss", "offset pagination can miss", "other"}}
	for range 2 {
		res, err := Run(context.Background(), cfg)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res.Record.Warnings).To(Equal([]string{"offset pagination can miss", "other"}))
	}
	cfg.DryRun, cfg.Sink, cfg.Store = true, nil, nil
	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Warnings).To(HaveLen(2))

	res, err = Run(context.Background(), e.config())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Warnings).To(BeEmpty(), "a source without warnings")
}
