package engine

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/checkpoint"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// t0 is the time of the first test record.
var t0 = time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC)

// numericIDs orders integer ids numerically ("9" < "10").
func numericIDs(a, b string) int {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	if errA != nil || errB != nil {
		return strings.Compare(a, b)
	}
	return cmp.Compare(x, y)
}

// genRecords makes n records with ids 1..n, tiesPer records sharing each second from t0.
func genRecords(n, tiesPer int) []connector.Record {
	recs := make([]connector.Record, n)
	for i := range n {
		recs[i] = connector.Record{
			ID:        strconv.Itoa(i + 1),
			UpdatedAt: t0.Add(time.Duration(i/tiesPer) * time.Second),
			Fields:    map[string]any{"n": int64(i + 1), "v": "v0"},
		}
	}
	return recs
}

// fakeSource serves records sorted by (UpdatedAt, ID) in its id order. In unsorted mode it
// serves them in the order given, following its own page position for one listing.
type fakeSource struct {
	mu       sync.Mutex
	recs     []connector.Record
	order    cursor.IDOrder
	unsorted bool
	pos      int // unsorted: position in the current listing

	reads     []cursor.Cursor // `after` of each ReadPage
	limits    []int           // `limit` of each ReadPage (pagesize_test.go)
	fetches   [][]string      // ids of each FetchByIDs
	events    []string        // "read" / "fetch" in call order
	readErrAt map[int]error   // ReadPage call (1-based) -> error
	scanErrAt map[int]error   // ScanVersions call (1-based; overlapscan_test.go) -> error
	onRead    func(call int)  // called at the start of each ReadPage
	written   func() int      // upserts finished so far, for the read-ahead bound
	maxAhead  int             // max of reads started - upserts finished
}

func newSource(recs []connector.Record) *fakeSource {
	s := &fakeSource{order: numericIDs}
	s.set(recs)
	return s
}

// set replaces the records, keeping them sorted.
func (s *fakeSource) set(recs []connector.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = slices.Clone(recs)
	if !s.unsorted {
		slices.SortFunc(s.recs, func(a, b connector.Record) int { return cursor.Compare(a.Cursor(), b.Cursor(), s.order) })
	}
}

func (s *fakeSource) ReadPage(ctx context.Context, after cursor.Cursor, limit int) (connector.Page, error) {
	s.mu.Lock()
	s.reads = append(s.reads, after)
	s.limits = append(s.limits, limit)
	s.events = append(s.events, "read")
	call := len(s.reads)
	hook := s.onRead
	if s.written != nil {
		s.maxAhead = max(s.maxAhead, call-s.written())
	}
	s.mu.Unlock()
	if hook != nil {
		hook(call)
	}
	if err := ctx.Err(); err != nil {
		return connector.Page{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.readErrAt[call]; err != nil {
		return connector.Page{}, err
	}
	var out []connector.Record
	if s.unsorted {
		for s.pos < len(s.recs) && len(out) < limit {
			if r := s.recs[s.pos]; !r.UpdatedAt.Before(after.UpdatedAt) {
				out = append(out, r)
			}
			s.pos++
		}
		more := s.pos < len(s.recs)
		if !more {
			s.pos = 0 // the next run lists again
		}
		return connector.Page{Records: out, More: more}, nil
	}
	out, more := s.after(after, limit)
	return connector.Page{Records: out, More: more}, nil
}

// after returns (a copy of) at most limit sorted records after c, and whether more follow.
// The caller holds s.mu.
func (s *fakeSource) after(c cursor.Cursor, limit int) ([]connector.Record, bool) {
	i, _ := slices.BinarySearchFunc(s.recs, c, func(r connector.Record, c cursor.Cursor) int {
		if cursor.Compare(r.Cursor(), c, s.order) <= 0 {
			return -1
		}
		return 1
	})
	end := min(i+limit, len(s.recs))
	return slices.Clone(s.recs[i:end]), end < len(s.recs)
}

func (s *fakeSource) CompareIDs(a, b string) int { return s.order(a, b) }
func (s *fakeSource) Close() error               { return nil }

func (s *fakeSource) FetchByIDs(ctx context.Context, ids []string) ([]connector.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetches = append(s.fetches, slices.Clone(ids))
	s.events = append(s.events, "fetch")
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var out []connector.Record
	for _, r := range s.recs {
		if want[r.ID] {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *fakeSource) CountWindow(ctx context.Context, from, to time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, r := range s.recs {
		if !r.UpdatedAt.Before(from) && !r.UpdatedAt.After(to) {
			n++
		}
	}
	return n, nil
}

func (s *fakeSource) readAfters() []cursor.Cursor {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reads)
}

// plainSource hides the fake's optional capabilities (Fetcher, Counter).
type plainSource struct{ s *fakeSource }

func (p plainSource) ReadPage(ctx context.Context, after cursor.Cursor, limit int) (connector.Page, error) {
	return p.s.ReadPage(ctx, after, limit)
}
func (p plainSource) CompareIDs(a, b string) int { return p.s.CompareIDs(a, b) }
func (p plainSource) Close() error               { return nil }

// unfetchableSource implements connector.Fetcher but says it cannot fetch by id, like an
// HTTP source without getByIdUrl: FetchByIDs fails.
type unfetchableSource struct{ *fakeSource }

func (unfetchableSource) CanFetchByID() bool { return false }
func (unfetchableSource) FetchByIDs(context.Context, []string) ([]connector.Record, error) {
	return nil, errors.New("getByIdUrl is not set: records cannot be fetched by id")
}

// unsortedSource declares itself unsorted through the optional interface.
type unsortedSource struct{ *fakeSource }

func (unsortedSource) Unsorted() bool { return true }

// fakeSink upserts by key with a stale guard, and can fail on demand.
type fakeSink struct {
	mu        sync.Mutex
	rows      map[string]connector.WriteRecord // what the sink holds (also unconfirmed writes)
	confirmed map[string]time.Time             // key -> source updatedAt of the confirmed write
	calls     int
	finished  int
	batches   []int // batch sizes
	writes    map[string]int

	batchErrAt  map[int]error   // Upsert call -> error, after applying the first half
	failOnce    map[string]int  // source id -> remaining Failed results
	failAlways  map[string]bool // source ids always rejected
	before      func(ctx context.Context, call int)
	after       func(call int)
	cancelAfter map[int]context.CancelFunc // call -> cancel after the batch is confirmed
}

func newSink() *fakeSink {
	return &fakeSink{rows: map[string]connector.WriteRecord{}, confirmed: map[string]time.Time{}, writes: map[string]int{}}
}

func (s *fakeSink) Upsert(ctx context.Context, batch []connector.WriteRecord) ([]connector.Result, error) {
	s.mu.Lock()
	s.calls++
	call := s.calls
	before := s.before
	s.mu.Unlock()
	if before != nil {
		before(ctx, call)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, len(batch))
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("upsert: %w", err)
	}
	if err := s.batchErrAt[call]; err != nil {
		for _, w := range batch[:len(batch)/2] { // a partial write the sink never confirmed
			s.apply(w)
		}
		return nil, err
	}
	res := make([]connector.Result, len(batch))
	for i, w := range batch {
		if s.failAlways[w.SourceID] || s.failOnce[w.SourceID] > 0 {
			if s.failOnce[w.SourceID] > 0 {
				s.failOnce[w.SourceID]--
			}
			res[i] = connector.Result{Outcome: connector.Failed, Err: &connector.RecordError{Field: "name", Reason: "rejected", Detail: "value too long"}}
			continue
		}
		res[i] = connector.Result{Outcome: s.apply(w)}
		if res[i].Outcome != connector.Stale {
			s.confirmed[w.Key] = w.SourceUpdatedAt
		}
	}
	s.finished++
	if s.after != nil {
		s.after(call)
	}
	if c := s.cancelAfter[call]; c != nil {
		c()
	}
	return res, nil
}

// apply writes w unless the sink holds a newer version.
func (s *fakeSink) apply(w connector.WriteRecord) connector.Outcome {
	old, ok := s.rows[w.Key]
	switch {
	case ok && old.SourceUpdatedAt.After(w.SourceUpdatedAt):
		return connector.Stale
	case ok && old.SourceUpdatedAt.Equal(w.SourceUpdatedAt) && maps.Equal(old.Values, w.Values) && old.Hash == w.Hash: // the hash among the values, as in a postgres sink
		return connector.Unchanged
	}
	s.rows[w.Key] = w
	s.writes[w.Key]++
	return connector.Written
}

func (s *fakeSink) Close() error { return nil }

func (s *fakeSink) CountWindow(ctx context.Context, from, to time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, w := range s.rows {
		if !w.SourceUpdatedAt.Before(from) && !w.SourceUpdatedAt.After(to) {
			n++
		}
	}
	return n, nil
}

func (s *fakeSink) upserts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.finished
}

func (s *fakeSink) snapshot() map[string]connector.WriteRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.rows)
}

// fakeMapper maps a record to key "src:<id>" with its fields; ids in fail (or failOnce)
// do not map.
type fakeMapper struct {
	mu       sync.Mutex
	fail     map[string]bool
	failOnce map[string]int
}

func (m *fakeMapper) Map(r connector.Record) (connector.WriteRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail[r.ID] || m.failOnce[r.ID] > 0 {
		if m.failOnce[r.ID] > 0 {
			m.failOnce[r.ID]--
		}
		return connector.WriteRecord{}, &connector.RecordError{ID: r.ID, Field: "total", Reason: "not a decimal", Detail: `"abc"`}
	}
	return mapRecord(r), nil
}

// mapRecord is the mapping the fake mapper applies.
func mapRecord(r connector.Record) connector.WriteRecord {
	return connector.WriteRecord{Key: "src:" + r.ID, SourceID: r.ID, SourceUpdatedAt: r.UpdatedAt, Values: maps.Clone(r.Fields)}
}

// fakeStore keeps the state in memory, records every Save and can check each one.
type fakeStore struct {
	mu        sync.Mutex
	state     runcontract.Checkpoint
	saves     []runcontract.Checkpoint
	saveCalls int
	loads     int
	saveErrAt map[int]error // Save call (1-based, over the store's life) -> error
	check     func(runcontract.Checkpoint)
	cancelled int // saves called with a cancelled context
}

func (s *fakeStore) Load(ctx context.Context) (runcontract.Checkpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loads++
	return cloneState(s.state), nil
}

func (s *fakeStore) Save(ctx context.Context, st runcontract.Checkpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saveCalls++
	if ctx.Err() != nil {
		s.cancelled++
		return ctx.Err()
	}
	if err := s.saveErrAt[s.saveCalls]; err != nil {
		return err
	}
	if s.check != nil {
		s.check(st)
	}
	s.state = cloneState(st)
	s.saves = append(s.saves, cloneState(st))
	return nil
}

func (s *fakeStore) get() runcontract.Checkpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneState(s.state)
}

func (s *fakeStore) saveCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.saves)
}

func cloneState(st runcontract.Checkpoint) runcontract.Checkpoint {
	if st.Cursor != nil {
		c := *st.Cursor
		st.Cursor = &c
	}
	if st.LastRun != nil {
		l := *st.LastRun
		st.LastRun = &l
	}
	st.FailedKeys = slices.Clone(st.FailedKeys)
	st.FailedUpdatedAt = maps.Clone(st.FailedUpdatedAt)
	st.Backfills = maps.Clone(st.Backfills)
	if st.MappingResync != nil {
		m := *st.MappingResync
		st.MappingResync = &m
	}
	return st
}

// fakeLock is a run lock a test can hold elsewhere or take away.
type fakeLock struct {
	mu       sync.Mutex
	heldBy   string
	acquired int
	released int
	lose     context.CancelFunc
}

func (l *fakeLock) Acquire(ctx context.Context) (context.Context, func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.heldBy != "" {
		return nil, nil, fmt.Errorf("lease held by %s: %w", l.heldBy, checkpoint.ErrLocked)
	}
	l.acquired++
	l.heldBy = "us"
	held, lose := context.WithCancel(context.Background())
	l.lose = lose
	return held, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.released++
		l.heldBy = ""
		lose()
	}, nil
}

// stepClock advances by step on every reading.
type stepClock struct {
	mu   sync.Mutex
	now  time.Time
	step time.Duration
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.now
	c.now = c.now.Add(c.step)
	return t
}

func (c *stepClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakePublisher records what it was given.
type fakePublisher struct {
	recs    []audit.Record
	cursors []*cursor.Cursor
}

func (p *fakePublisher) Publish(ctx context.Context, rec audit.Record, c *cursor.Cursor) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	p.recs = append(p.recs, rec)
	p.cursors = append(p.cursors, c)
	return nil
}

// env is a source, sink, mapper, store and lock wired into a Config.
type env struct {
	src   *fakeSource
	sink  *fakeSink
	mp    *fakeMapper
	store *fakeStore
	lock  *fakeLock
	clock *stepClock
	pub   *fakePublisher
}

func newEnv(recs []connector.Record) *env {
	e := &env{
		src:   newSource(recs),
		sink:  newSink(),
		mp:    &fakeMapper{},
		store: &fakeStore{},
		lock:  &fakeLock{},
		clock: &stepClock{now: t0.Add(24 * time.Hour)},
		pub:   &fakePublisher{},
	}
	e.src.written = e.sink.upserts
	return e
}

// config is a Config over the env with small pages and a save after every page.
func (e *env) config() Config {
	return Config{
		Job: "inv", RunID: "run", Trigger: "Manual",
		Source: e.src, Sink: e.sink, Mapper: e.mp, Store: e.store, Lock: e.lock,
		Publisher: e.pub, Clock: e.clock,
		PageSize: 5, SafetyGap: 0, MaxErrors: -1, ErrorPolicy: Skip,
	}
}

// sinkMismatch describes how the sink differs from the mapped source ("" when it holds
// exactly the mapped source).
func (e *env) sinkMismatch() string {
	want := map[string]connector.WriteRecord{}
	e.src.mu.Lock()
	for _, r := range e.src.recs {
		want["src:"+r.ID] = mapRecord(r)
	}
	e.src.mu.Unlock()
	got := e.sink.snapshot()
	var diffs []string
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			diffs = append(diffs, "missing "+k)
		case !g.SourceUpdatedAt.Equal(w.SourceUpdatedAt) || !maps.Equal(g.Values, w.Values):
			diffs = append(diffs, fmt.Sprintf("%s holds %v@%s, want %v@%s", k, g.Values, g.SourceUpdatedAt, w.Values, w.SourceUpdatedAt))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, "unexpected "+k)
		}
	}
	slices.Sort(diffs)
	return strings.Join(diffs, "; ")
}

// invariantCheck returns a Save check: every source record at or before the saved cursor
// must be confirmed in the sink (at its version or newer) or listed as failed. Violations
// are appended to *violations.
func (e *env) invariantCheck(violations *[]string) func(runcontract.Checkpoint) {
	return func(st runcontract.Checkpoint) {
		if st.Cursor == nil {
			return
		}
		failed := map[string]bool{}
		for _, id := range st.FailedKeys {
			failed[id] = true
		}
		e.src.mu.Lock()
		recs := slices.Clone(e.src.recs)
		e.src.mu.Unlock()
		e.sink.mu.Lock()
		defer e.sink.mu.Unlock()
		for _, r := range recs {
			if cursor.Compare(r.Cursor(), *st.Cursor, e.src.order) > 0 {
				continue
			}
			at, ok := e.sink.confirmed["src:"+r.ID]
			if (!ok || at.Before(r.UpdatedAt)) && !failed[r.ID] {
				*violations = append(*violations, fmt.Sprintf("saved cursor %s passed unconfirmed record %s", st.Cursor, r.Cursor()))
			}
		}
	}
}

// runErr extracts the *RunError of a run, failing the test if err is of another kind.
func runErr(t *testing.T, err error) *RunError {
	t.Helper()
	if err == nil {
		return nil
	}
	var re *RunError
	if !errors.As(err, &re) {
		t.Fatalf("error %v is not a *RunError", err)
	}
	return re
}

// auditBuffer collects audit lines.
type auditBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *auditBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines parses the collected lines as JSON objects.
func (b *auditBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(b.buf.Bytes()), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("audit line %q is not JSON: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}
