package httpapi

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport/transporttest"
)

// t0 is a whole second, so every time format can carry the test records.
var t0 = time.Date(2026, 6, 30, 23, 55, 0, 0, time.UTC)

// apiRec is one record of the fake API.
type apiRec struct {
	id any // int64 or string
	at time.Time
}

func (r apiRec) idString() string { return fmt.Sprint(r.id) }

// fakeAPI is a list endpoint: updated_since is inclusive, after_id (when supported) is
// keyset after (updated_since, after_id) — or, unsorted, id > after_id — and pages follow
// the configured pagination.
type fakeAPI struct {
	recs     []apiRec
	format   string
	paging   string
	afterID  bool
	unsorted bool // records come in id order, not time order
	maxLimit int  // the API caps the page size

	mu      sync.Mutex
	queries []url.Values
	srv     *httptest.Server
}

func (f *fakeAPI) start(t *testing.T) *fakeAPI {
	t.Helper()
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) requests() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.queries)
}

func cmpAPIID(a, b any) int {
	ai, aok := a.(int64)
	bi, bok := b.(int64)
	if aok && bok {
		return cmp.Compare(ai, bi)
	}
	return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
}

func (f *fakeAPI) parseTime(s string) time.Time {
	switch f.format {
	case TimeUnixSeconds:
		n, _ := strconv.ParseInt(s, 10, 64)
		return time.Unix(n, 0).UTC()
	case TimeUnixMillis:
		n, _ := strconv.ParseInt(s, 10, 64)
		return time.UnixMilli(n).UTC()
	}
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

func (f *fakeAPI) renderTime(t time.Time) any {
	switch f.format {
	case TimeUnixSeconds:
		return t.Unix()
	case TimeUnixMillis:
		return t.UnixMilli()
	}
	return t.Format(time.RFC3339Nano)
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	f.queries = append(f.queries, q)
	f.mu.Unlock()

	var since time.Time
	if s := q.Get("updated_since"); s != "" {
		since = f.parseTime(s)
	}
	var list []apiRec
	for _, rec := range f.recs {
		if rec.at.Before(since) {
			continue
		}
		if a := q.Get("after_id"); f.afterID && a != "" {
			var aid any = a
			if n, err := strconv.ParseInt(a, 10, 64); err == nil {
				aid = n
			}
			if f.unsorted && cmpAPIID(rec.id, aid) <= 0 {
				continue
			}
			if !f.unsorted && rec.at.Equal(since) && cmpAPIID(rec.id, aid) <= 0 {
				continue
			}
		}
		list = append(list, rec)
	}
	slices.SortFunc(list, func(a, b apiRec) int {
		if f.unsorted {
			return cmpAPIID(a.id, b.id)
		}
		return cmp.Or(a.at.Compare(b.at), cmpAPIID(a.id, b.id))
	})
	limit := 50
	if l, err := strconv.Atoi(q.Get("limit")); err == nil && l > 0 {
		limit = l
	}
	if f.maxLimit > 0 {
		limit = min(limit, f.maxLimit)
	}
	offset := 0
	switch f.paging {
	case PageNextToken, PageLinkHeader:
		if tok := q.Get("page_token"); tok != "" {
			offset, _ = strconv.Atoi(strings.TrimPrefix(tok, "tok-"))
		}
	case PageOffset:
		offset, _ = strconv.Atoi(q.Get("offset"))
	}
	offset = min(offset, len(list))
	end := min(offset+limit, len(list))
	data := make([]any, 0, end-offset)
	for _, rec := range list[offset:end] {
		data = append(data, map[string]any{"id": rec.id, "updated_at": f.renderTime(rec.at), "name": "n" + rec.idString()})
	}
	body := map[string]any{"data": data}
	if end < len(list) {
		switch f.paging {
		case PageNextToken:
			body["next"] = "tok-" + strconv.Itoa(end)
		case PageLinkHeader:
			nq := r.URL.Query()
			nq.Set("page_token", "tok-"+strconv.Itoa(end))
			w.Header().Add("Link", fmt.Sprintf(`<%s?%s>; rel="next", <%s>; rel="first"`, r.URL.Path, nq.Encode(), r.URL.Path))
		}
	} else if f.paging == PageNextToken {
		body["next"] = nil
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

// spec is the source config for this API, as a SyncJob with the CRD defaults translates.
func (f *fakeAPI) spec() SourceConfig {
	s := SourceConfig{
		URL:               f.srv.URL + "/v1/invoices",
		UpdatedSinceParam: "updated_since",
		TimeFormat:        f.format,
		PageSizeParam:     "limit",
		Pagination:        Pagination{Type: f.paging, TokenPath: "next", TokenParam: "page_token"},
		RecordsPath:       "data",
		IDPath:            "id",
		UpdatedAtPath:     "updated_at",
		Sorted:            ptr.To(!f.unsorted),
	}
	if f.paging == PageOffset {
		s.Pagination.TokenParam = "offset"
	}
	if f.afterID {
		s.AfterIDParam = "after_id"
	}
	return s
}

// sourceConfig is a config of the list endpoint at u carrying what a defaulted SyncJob
// always sets (time format, pagination, id and time paths, sorted), without records path,
// cursor or page size parameters.
func sourceConfig(u string) SourceConfig {
	return SourceConfig{
		URL:           u,
		TimeFormat:    TimeRFC3339,
		Pagination:    Pagination{Type: PageLinkHeader, TokenPath: "next", TokenParam: "page_token"},
		IDPath:        "id",
		UpdatedAtPath: "updated_at",
		Sorted:        ptr.To(true),
	}
}

// retryPolicy is the retry of a SyncJob with the CRD defaults, with n attempts.
func retryPolicy(n int) transport.RetryPolicy {
	return transport.RetryPolicy{MaxAttempts: n, MaxBackoff: 30 * time.Second, RequestTimeout: 30 * time.Second, MaxTotalWait: 10 * time.Minute}
}

// mustClient makes a client of valid test options.
func mustClient(opts transport.Options) *transport.Client {
	c, err := transport.New(opts)
	if err != nil {
		panic(err)
	}
	return c
}

// newClient is a client without auth, with the default retries and a clock that never
// sleeps.
func newClient() *transport.Client {
	return mustClient(transport.Options{Retry: retryPolicy(6), Clock: transporttest.NewClock(t0), Jitter: func(time.Duration) time.Duration { return 0 }})
}

func (f *fakeAPI) source(t *testing.T) *Source {
	t.Helper()
	s, err := NewSource(f.spec(), newClient(), SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// readSorted drives a sorted source as the engine does: each call after the last record
// returned, until a page says there is no more. It checks the order contract.
func readSorted(t *testing.T, src *Source, after cursor.Cursor, limit int) ([]connector.Record, error) {
	t.Helper()
	var out []connector.Record
	for range 1000 {
		p, err := src.ReadPage(t.Context(), after, limit)
		if err != nil {
			return out, err
		}
		if len(p.Records) > limit {
			t.Fatalf("page of %d records for a limit of %d", len(p.Records), limit)
		}
		for _, r := range p.Records {
			if cursor.Compare(r.Cursor(), after, src.CompareIDs) <= 0 {
				t.Fatalf("record %s is not after %s", r.Cursor(), after)
			}
			after = r.Cursor()
			out = append(out, r)
		}
		if !p.More || len(p.Records) == 0 {
			return out, nil
		}
	}
	t.Fatal("the source never ended")
	return nil, nil
}

// readUnsorted drives an unsorted source as the engine does: every call with the start.
func readUnsorted(t *testing.T, src *Source, start cursor.Cursor, limit int) ([]connector.Record, error) {
	t.Helper()
	var out []connector.Record
	for range 1000 {
		p, err := src.ReadPage(t.Context(), start, limit)
		if err != nil {
			return out, err
		}
		if len(p.Records) == 0 && p.More {
			t.Fatal("an empty page with more to come")
		}
		out = append(out, p.Records...)
		if !p.More {
			return out, nil
		}
	}
	t.Fatal("the source never ended")
	return nil, nil
}

func ids(recs []connector.Record) []string {
	out := []string{}
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

// wantAfter lists, in (updatedAt, id) order, the ids of the API's records after c.
func wantAfter(recs []apiRec, c cursor.Cursor) []string {
	sorted := slices.Clone(recs)
	slices.SortFunc(sorted, func(a, b apiRec) int { return cmp.Or(a.at.Compare(b.at), cmpAPIID(a.id, b.id)) })
	out := []string{}
	var order func(a, b string) int = (&Source{}).CompareIDs
	for _, r := range sorted {
		if cursor.Compare(cursor.Cursor{UpdatedAt: r.at, ID: r.idString()}, c, order) > 0 {
			out = append(out, r.idString())
		}
	}
	return out
}
