package engine

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"
)

// listCountingSink is keySink counting its key listings.
type listCountingSink struct {
	keySink
	lists *atomic.Int32
}

func (s listCountingSink) Keys(ctx context.Context, after string) iter.Seq2[string, error] {
	s.lists.Add(1)
	return s.keySink.Keys(ctx, after)
}

// TestAbsentKeysKeptFromTheCountingPass: the absent keys the counting pass keeps
// (keepAbsentKeys, keepAbsentBytes) are deleted without listing the keys again when they
// are all of them; more keys than it keeps, or more bytes, are deleted by the second pass.
// Either way exactly the absent keys are deleted.
func TestAbsentKeysKeptFromTheCountingPass(t *testing.T) {
	many := make([]string, keepAbsentKeys+1)
	for i := range many {
		many[i] = fmt.Sprintf("src:gone-%05d", i)
	}
	long := []string{"src:a" + strings.Repeat("x", keepAbsentBytes/2), "src:b" + strings.Repeat("y", keepAbsentBytes/2)}
	for _, tc := range []struct {
		name      string
		absent    []string
		wantLists int32
	}{
		{"two absent keys: one listing of each side", []string{"src:1000", "src:99"}, 2},
		{"exactly as many as kept: one listing of each side", many[:keepAbsentKeys], 2},
		{"one more than kept: listed again", many, 4},
		{"more bytes than kept: listed again", long, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			e, cfg, _ := deletesEnv(t, 40, tc.absent...)
			var lists atomic.Int32
			cfg.Sink = listCountingSink{keySink{e.sink}, &lists}
			cfg.Deletes.SourceKeys = countingKeys{sourceKeys{e.src}, &lists}
			cfg.Deletes.MaxFraction = 1
			res, err := Run(context.Background(), cfg)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res.Record.Deleted).To(Equal(int64(len(tc.absent))))
			g.Expect(lists.Load()).To(Equal(tc.wantLists))
			snap := e.sink.snapshot()
			g.Expect(snap).To(HaveLen(40))
			for _, k := range tc.absent {
				g.Expect(snap).NotTo(HaveKey(k))
			}
			g.Expect(e.store.get().RunsSinceFullReconcile).To(Equal(0))
		})
	}
}
