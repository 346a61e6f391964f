package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// flushingSink is a fakeSink whose confirmed writes are durable only once Flush returns
// (connector.Flusher). It logs upserts, flushes and the store's saves in order, and fails
// every flush from the failFrom-th on.
type flushingSink struct {
	*fakeSink
	mu        sync.Mutex
	events    []string
	flushes   int
	failFrom  int // the first flush (1-based, calls with writes to flush) that fails; 0: none
	unflushed bool
}

func (s *flushingSink) log(ev string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, ev)
}

func (s *flushingSink) Upsert(ctx context.Context, batch []connector.WriteRecord) ([]connector.Result, error) {
	res, err := s.fakeSink.Upsert(ctx, batch)
	if err == nil {
		s.mu.Lock()
		s.unflushed = true
		s.mu.Unlock()
		s.log("upsert")
	}
	return res, err
}

func (s *flushingSink) Flush(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.unflushed {
		return nil // as the postgres sink: nothing to flush, nothing sent
	}
	s.flushes++
	if s.failFrom > 0 && s.flushes >= s.failFrom {
		s.events = append(s.events, "flush failed")
		return errors.New("server closed the connection")
	}
	s.unflushed = false
	s.events = append(s.events, "flush")
	return nil
}

// newFlushingEnv is an env whose sink is a flushingSink and whose store logs its saves
// into the sink's events, each with whether a confirmed write was not yet flushed.
func newFlushingEnv(n int) (*env, *flushingSink) {
	e := newEnv(genRecords(n, 1))
	fs := &flushingSink{fakeSink: e.sink}
	e.store.check = func(runcontract.Checkpoint) {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		fs.events = append(fs.events, fmt.Sprintf("save (unflushed writes: %t)", fs.unflushed))
	}
	return e, fs
}

// TestACheckpointCountsOnlyFlushedWrites: with a sink that confirms writes before they are
// durable, every checkpoint stored after a write is stored after a Flush that followed it,
// and the run flushes before its last save.
func TestACheckpointCountsOnlyFlushedWrites(t *testing.T) {
	g := NewWithT(t)
	e, fs := newFlushingEnv(20) // 4 pages of 5
	cfg := e.config()
	cfg.Sink = fs // CheckpointInterval 0: a save after every page
	_, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(fs.events).To(Equal([]string{
		"save (unflushed writes: false)", // the loaded checkpoint, before the first write
		"upsert", "flush", "save (unflushed writes: false)",
		"upsert", "flush", "save (unflushed writes: false)",
		"upsert", "flush", "save (unflushed writes: false)",
		"upsert", "flush", "save (unflushed writes: false)",
		"save (unflushed writes: false)", // the end: nothing left to flush
	}))
	g.Expect(*e.store.get().Cursor).To(Equal(cursor.Cursor{UpdatedAt: t0.Add(19e9), ID: "20"}))
}

// TestAFailedFlushStoresNothingItCannotProve: once the sink cannot make its writes durable,
// no checkpoint counts them: the stored cursor stays at the last flushed page, and the run
// fails with a sink error that says so.
func TestAFailedFlushStoresNothingItCannotProve(t *testing.T) {
	g := NewWithT(t)
	e, fs := newFlushingEnv(20)
	fs.failFrom = 3 // the flushes after pages 1 and 2 succeed
	cfg := e.config()
	cfg.Sink = fs
	res, err := Run(context.Background(), cfg)
	re := runErr(t, err)
	g.Expect(re).NotTo(BeNil())
	g.Expect(re.Reason).To(Equal(runcontract.ReasonSinkError))
	g.Expect(re.Error()).To(ContainSubstring("make the sink's confirmed writes durable: server closed the connection"))
	g.Expect(res.Record.Phase).To(Equal(audit.PhaseFailed))
	g.Expect(*e.store.get().Cursor).To(Equal(cursor.Cursor{UpdatedAt: t0.Add(9e9), ID: "10"}), "the last page flushed")
	g.Expect(res.Stored).To(Equal(e.store.get().Cursor))
	for _, ev := range fs.events {
		g.Expect(ev).NotTo(Equal("save (unflushed writes: true)"))
	}
}
