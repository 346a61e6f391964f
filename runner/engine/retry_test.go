package engine

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/audit"
)

// TestFailedKeysRetriedFirst: records that failed in an earlier run are fetched by id before
// the first page; those that now succeed leave the list, those that fail again stay, those
// the source no longer has are dropped, and the cursor does not move for them.
func TestFailedKeysRetriedFirst(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(genRecords(20, 1))
	stored := cursor.Cursor{UpdatedAt: t0.Add(19 * time.Second), ID: "20"}
	e.store.state = runcontract.Checkpoint{Job: "inv", Cursor: &stored, FailedKeys: []string{"3", "7", "gone", "12"}}
	e.mp.fail = set("7")
	cfg := e.config()

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(e.src.events[0]).To(Equal("fetch"), "retries come before the first page")
	g.Expect(e.src.fetches[0]).To(Equal([]string{"3", "7", "gone", "12"}))
	g.Expect(e.sink.snapshot()).To(HaveKey("src:3"))
	g.Expect(e.sink.snapshot()).To(HaveKey("src:12"))
	st := e.store.get()
	g.Expect(st.FailedKeys).To(Equal([]string{"7"}))
	g.Expect(*st.Cursor).To(Equal(stored))
	g.Expect(res.Record.Phase).To(Equal(audit.PhasePartiallySucceeded))
	g.Expect(res.Record.Failed).To(BeEquivalentTo(1))
}

// TestFailedKeysNeedAFetcher: without Fetcher the list is kept as it is.
func TestFailedKeysNeedAFetcher(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(genRecords(5, 1))
	e.store.state = runcontract.Checkpoint{FailedKeys: []string{"99"}}
	cfg := e.config()
	cfg.Source = plainSource{e.src}
	_, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(e.src.fetches).To(BeEmpty())
	g.Expect(e.store.get().FailedKeys).To(Equal([]string{"99"}))
}

// TestFailedKeysAreBounded: the list never exceeds runcontract.MaxFailedKeys; the oldest go.
func TestFailedKeysAreBounded(t *testing.T) {
	g := NewWithT(t)
	n := runcontract.MaxFailedKeys + 50
	e := newEnv(genRecords(n, 1))
	fail := map[string]bool{}
	for i := 1; i <= n; i++ {
		fail[strconv.Itoa(i)] = true
	}
	e.mp.fail = fail
	cfg := e.config()
	cfg.PageSize = 200
	cfg.Source = plainSource{e.src}
	_, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	keys := e.store.get().FailedKeys
	g.Expect(keys).To(HaveLen(runcontract.MaxFailedKeys))
	g.Expect(keys[0]).To(Equal("51"))
	g.Expect(keys[len(keys)-1]).To(Equal(strconv.Itoa(n)))
}

func TestFailedKeysList(t *testing.T) {
	cases := []struct {
		start []string
		add   []string
		rm    []string
		want  []string
	}{
		{nil, []string{"a", "b"}, nil, []string{"a", "b"}},
		{[]string{"a", "b"}, []string{"a"}, nil, []string{"b", "a"}},           // a failed again: newest
		{[]string{"a", "b", "c"}, []string{"d"}, nil, []string{"b", "c", "d"}}, // limit 3: oldest dropped
		{[]string{"a", "a", "b"}, nil, nil, []string{"a", "b"}},                // loaded duplicates collapse
		{[]string{"a", "b", "c"}, nil, []string{"b", "x"}, []string{"a", "c"}},
		{[]string{"a"}, nil, []string{"a"}, nil},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			g := NewWithT(t)
			f := newFailedKeys(tc.start, 3)
			for _, id := range tc.add {
				f.add(id)
			}
			for _, id := range tc.rm {
				f.remove(id)
			}
			g.Expect(f.list()).To(Equal(tc.want))
			g.Expect(f.set).To(HaveLen(len(tc.want)))
		})
	}
}
