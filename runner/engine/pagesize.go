package engine

import (
	"time"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// The adaptive page size (Config.AdaptivePageSize, spec.pageSize unset). Each page is one
// sink transaction and one commit, so a page's fixed costs (the commit's WAL flush, the
// round trips of the read, the COPY and the merge, the statement's start) are paid once
// per page: small pages of quick rows spend most of their time on them. Large pages cost
// memory (the engine holds two at a time: one written while the next is read and mapped)
// and move the checkpoint less often. The main loop therefore starts at Config.PageSize
// and, after each written page, asks pageSizePolicy.next for the size of the next page it
// starts reading: twice the size while a full page was written quickly and the estimated
// memory of a page stays within the budget, half when a page was slow, never below the
// start (the fixed default before) nor above MaxPageSize, and always within the budget.
//
// The size only decides how many records the next ReadPage may return: the checkpoint
// still moves only to the end of a page's committed prefix, whatever its size.

// MaxPageSize is the largest page the adaptive size grows to (the API's maximum of
// spec.pageSize).
const MaxPageSize = 10000

// StartPageSize is where the adaptive size starts and the least it shrinks to: the
// fixed default spec.pageSize had before it was adaptive.
const StartPageSize = 2000

// pageSizePolicy decides the next page's size from the last page written. It is pure.
type pageSizePolicy struct {
	// Min and Max bound the size (Min: the start; Max: MaxPageSize). The memory budget
	// may bound it below Min (wide rows).
	Min, Max int
	// Budget is the memory one page's records may take while in flight, in bytes.
	Budget int64
	// PerRecord is the memory a record takes beyond its column data (its Fields and
	// Values maps, its mapping, its share of the sink's buffers), in bytes.
	PerRecord int64
	// DataCopies is how many copies of a record's column data are held while it is in
	// flight (the source's values, the mapped values, the sink's COPY buffer).
	DataCopies int64
	// Quick: a full page written in less time grows the next one; Slow: a page that
	// took longer shrinks it.
	Quick, Slow time.Duration
}

// defaultPageSizePolicy is the policy of a run with an adaptive page size. The budget of
// 6 MiB a page keeps the runner within 64 MiB: two pages in flight take 12 MiB, the
// garbage collector's headroom as much again, and the runner takes about 25 MiB with
// small pages. A record's fixed memory of about 1 KiB is an upper estimate for the
// postgres connectors (maps of five to ten fields): pages of the benchmark's narrow rows
// stop growing near 4,600 rows, where the runner's peak RSS is about 47 MiB without a soft
// memory limit; a budget of 12 MiB (pages near 9,200 rows) took it to 65 MiB at 1M and
// 10M rows and did not make the full load faster (measured 2026-12-01, after the runner
// stopped linking the Kubernetes client libraries). A page written in under a second grows: with PostgreSQL on both ends a
// page of 10,000 narrow rows takes about a tenth of a second, so the commits' fixed cost
// is amortised over as many rows as the budget allows; a page taking over 10 s (a slow
// HTTP API) shrinks back towards the start, so the checkpoint keeps moving.
var defaultPageSizePolicy = pageSizePolicy{
	Min:        StartPageSize,
	Max:        MaxPageSize,
	Budget:     6 << 20,
	PerRecord:  1 << 10,
	DataCopies: 3,
	Quick:      time.Second,
	Slow:       10 * time.Second,
}

// pageSample is what the engine knows of the last page written.
type pageSample struct {
	Limit int           // the size the page was read with
	Rows  int           // the records it held (fewer than Limit: the source ended it early, or the end)
	Bytes int64         // the column data of those records, estimated (pageBytes)
	Took  time.Duration // the time the sink took to write and commit it
}

// next returns the size of the next page after s.
func (p pageSizePolicy) next(s pageSample) int {
	size := s.Limit
	switch {
	case s.Took > p.Slow:
		size = s.Limit / 2
	case s.Rows >= s.Limit && s.Took < p.Quick:
		// Only a full page says something about a larger one: a page the source ended
		// early (its byte budget) or the last one would not be larger.
		size = s.Limit * 2
	}
	size = max(min(size, p.Max), p.Min)
	if s.Rows > 0 && p.Budget > 0 {
		perRecord := p.PerRecord + p.DataCopies*(s.Bytes/int64(s.Rows))
		if perRecord > 0 {
			size = min(size, int(max(p.Budget/perRecord, 1)))
		}
	}
	return max(size, 1)
}

// pageBytesSample is how many records of a page pageBytes looks at.
const pageBytesSample = 64

// pageBytes estimates the column data of recs from up to pageBytesSample records spread
// over the page: the length of strings and JSON documents, 8 bytes for other scalars, and
// nested maps and lists by their elements.
func pageBytes(recs []connector.Record) int64 {
	if len(recs) == 0 {
		return 0
	}
	step := max(len(recs)/pageBytesSample, 1)
	var sum, n int64
	for i := 0; i < len(recs); i += step {
		sum += int64(len(recs[i].ID))
		for name, v := range recs[i].Fields {
			sum += int64(len(name)) + valueBytes(v, 0)
		}
		n++
	}
	return sum * int64(len(recs)) / n
}

// valueBytes estimates the size of one source value; depth bounds the walk of nested
// documents.
func valueBytes(v any, depth int) int64 {
	switch x := v.(type) {
	case string:
		return int64(len(x))
	case connector.Decimal:
		return int64(len(x))
	case connector.JSON:
		return int64(len(x))
	case []byte:
		return int64(len(x))
	case map[string]any:
		if depth > 8 {
			return 64 * int64(len(x))
		}
		var s int64
		for k, e := range x {
			s += int64(len(k)) + valueBytes(e, depth+1)
		}
		return s
	case []any:
		if depth > 8 {
			return 64 * int64(len(x))
		}
		var s int64
		for _, e := range x {
			s += valueBytes(e, depth+1)
		}
		return s
	}
	return 8
}

// newPageSizes returns the policy of a run whose page size adapts, nil when it is fixed:
// spec.pageSize set, or a Snapshot scan (which reads its next page ahead at the size of
// the last).
func newPageSizes(cfg Config, snapshot bool) *pageSizePolicy {
	if !cfg.AdaptivePageSize || snapshot {
		return nil
	}
	p := defaultPageSizePolicy
	if cfg.pageSizes != nil {
		p = *cfg.pageSizes
	}
	p.Min = cfg.PageSize
	p.Max = max(p.Max, cfg.PageSize)
	return &p
}

// pageTimer returns the time a page's write starts, read only when the size adapts (a
// fixed size reads no clock).
func (r *run) pageTimer() time.Time {
	if r.sizes == nil {
		return time.Time{}
	}
	return r.cfg.Clock.Now()
}

// adaptPageSize sets the size of the next page the main loop starts reading from the
// page pr, whose write began at began (pageTimer).
func (r *run) adaptPageSize(pr pageResult, began time.Time) {
	if r.sizes == nil {
		return
	}
	took := r.cfg.Clock.Now().Sub(began)
	next := r.sizes.next(pageSample{Limit: pr.limit, Rows: len(pr.page.Records), Bytes: pr.bytes, Took: took})
	if next != r.pageSize {
		r.log.V(1).Info("page size", "from", r.pageSize, "to", next, "rows", len(pr.page.Records), "bytes", pr.bytes, "took", took.String())
		r.pageSize = next
	}
}
