package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/go-logr/logr"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport"
)

// SourceOptions tune a Source. The zero value is usable.
type SourceOptions struct {
	// Logger receives a debug line per API page. It never receives a query or a header.
	Logger logr.Logger
}

// Source reads a JSON REST list endpoint. It implements connector.Source and
// connector.Fetcher (when GetByIDsURL or GetByIDURL is set; otherwise FetchByIDs fails), and reports
// Unsorted() true when Sorted is false. It is safe for concurrent use, but keeps one
// walk of the API's pages at a time: the engine's sequential ReadPage calls continue it.
//
// # The query
//
// Every walk starts with the config's URL plus:
//   - updatedSinceParam: the cursor time (omitted at the beginning). The API must treat it
//     as inclusive (updated at or after). In RFC3339 it is sent with its full fraction; in
//     UnixSeconds and UnixMillis it is floored to the unit, so nothing is skipped: records
//     between the floored and the real cursor time are read again and dropped here.
//   - afterIdParam (sorted APIs, when set and the cursor has an id): the cursor's id. The
//     API is expected to return records after (updatedSince, afterId) in (updatedAt, id)
//     order; an API that ignores it only costs re-reads.
//   - pageSizeParam: the ReadPage limit.
//
// # Pagination
//
//   - NextToken: the token at pagination.tokenPath in the body is sent back as
//     pagination.tokenParam with the walk's query; a token that is an absolute URL (or
//     starts with "/") is followed as the next page's URL. No token (missing, null, "")
//     ends the walk.
//   - LinkHeader: the `Link: <url>; rel="next"` URL is followed as is; none ends the walk.
//   - CursorID: the last record of the API page is sent as afterIdParam (sorted APIs: with
//     its time as updatedSinceParam; unsorted ones keep the walk's start time). An empty
//     page ends the walk.
//   - Offset: the number of records received so far in the walk is sent as tokenParam; an
//     empty page ends the walk. Discouraged: records that change while the walk runs move
//     between pages and are missed (until the next run's safety gap) or read twice.
//
// Links and URL tokens must stay on the URL's scheme and host, so credentials never go
// elsewhere. An API repeating a token or a link, or a CursorID page not moving forward,
// fails the read rather than looping.
//
// # Records
//
// The array at recordsPath ("" is the body itself) holds JSON objects; a record's id is at
// idPath (a string, or an integer number kept in its decimal form) and its update time at
// updatedAtPath (an RFC3339 string for RFC3339; a number, or a string holding one, of
// seconds or milliseconds for UnixSeconds and UnixMillis; a fraction is kept). Fields are
// the whole object, with numbers as json.Number. A record without a usable id or time
// fails the page: it cannot be placed in cursor order.
//
// # Sorted APIs
//
// ReadPage(after, limit) returns up to limit records strictly after `after`, following the
// API's pages until it has them or the API is exhausted. Records at or before `after`
// (ties at the cursor time returned by an inclusive updatedSince, or a floored unix time)
// are dropped, and so is a record repeating the last one kept (an API whose after-id is
// inclusive); any other record out of order is returned for the engine to refuse. The
// walk's next page and the records fetched but not yet returned are kept,
// so the engine's next call — after the last record returned — continues the walk instead
// of querying from the top; any other `after`, or an error, starts a fresh walk.
//
// # Unsorted APIs
//
// Every ReadPage carries the run's start cursor: the walk keyed by it continues across
// calls, returning records after the start in the API's order, never an empty page with
// More set, and More=false at the end.
type Source struct {
	cfg    SourceConfig
	client *transport.Client
	base   *url.URL
	sorted bool
	log    logr.Logger

	mu   sync.Mutex
	walk *walk
}

// walk is one pass over the API's pages from a start cursor.
type walk struct {
	// start: records at or before it are dropped.
	start cursor.Cursor
	// key is the `after` that continues this walk: the last record returned (sorted), or
	// the start (unsorted).
	key cursor.Cursor
	// query of the first page, on which NextToken, CursorID and Offset pages are built.
	query url.Values
	// next is the URL of the next API page; nil when the API is exhausted.
	next *url.URL
	// pending records were fetched and kept but not returned yet.
	pending []connector.Record
	// fetched counts the records the API returned in this walk (for Offset).
	fetched int
	// high is the last record kept (sorted walks): an API page that starts with it again
	// (an inclusive after-id) does not duplicate it.
	high cursor.Cursor
	// lastToken and lastRaw guard against an API that does not move forward.
	lastToken string
	lastRaw   *connector.Record
}

// NewSource checks the config (SourceConfig.Validate) and makes a source that sends its
// requests through client, which carries the auth, headers, retries and rate limit.
func NewSource(cfg SourceConfig, client *transport.Client, opts SourceOptions) (*Source, error) {
	if client == nil {
		return nil, errors.New("no HTTP client")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base, _ := url.Parse(cfg.URL) // checked by Validate
	return &Source{
		cfg:    cfg,
		client: client,
		base:   base,
		sorted: *cfg.Sorted,
		log:    opts.Logger,
	}, nil
}

// Unsorted reports whether the API's pages are not ascending by (updatedAt, id)
// (SourceConfig.Sorted false); see engine.UnsortedSource.
func (s *Source) Unsorted() bool { return !s.sorted }

// OffsetPagingWarning is the warning (connector.Warner) of a Source paging by offset.
const OffsetPagingWarning = "offset pagination (pagination.type Offset) can miss a record with no error: " +
	"a record inserted, or updated to a later position, while the run pages shifts the offsets of the records after it " +
	"between two page requests, and one of them is never read (the cursor then passes it). " +
	"Prefer NextToken, LinkHeader or CursorID pagination when the API offers one; the drift check (spec.reconcile) " +
	"compares counts on both sides, and a reset of the checkpoint to the beginning re-reads everything"

// Warnings reports, for offset pagination, that a run can miss records; see
// connector.Warner.
func (s *Source) Warnings() []string {
	if s.cfg.Pagination.Type == PageOffset {
		return []string{OffsetPagingWarning}
	}
	return nil
}

// Close does nothing: the client belongs to the caller.
func (s *Source) Close() error { return nil }

// ReadPage returns up to limit records strictly after `after`; see Source. The limit must
// be positive.
func (s *Source) ReadPage(ctx context.Context, after cursor.Cursor, limit int) (connector.Page, error) {
	if limit <= 0 {
		return connector.Page{}, fmt.Errorf("read page: the limit must be positive, not %d", limit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.walk
	s.walk = nil // kept again only if this call succeeds with more to come
	if w == nil || !sameCursor(w.key, after) {
		w = s.newWalk(after, limit)
	}
	out := make([]connector.Record, 0, limit)
	for len(out) < limit {
		if len(w.pending) > 0 {
			n := min(limit-len(out), len(w.pending))
			out = append(out, w.pending[:n]...)
			w.pending = w.pending[n:]
			continue
		}
		if w.next == nil {
			break
		}
		if err := s.fetch(ctx, w); err != nil {
			return connector.Page{}, fmt.Errorf("read page after %s: %w", after, err)
		}
	}
	more := len(w.pending) > 0 || w.next != nil
	if s.sorted && len(out) > 0 {
		w.key = out[len(out)-1].Cursor()
	}
	if more {
		s.walk = w
	}
	return connector.Page{Records: out, More: more}, nil
}

// sameCursor is exact equality: the same instant and the same id string.
func sameCursor(a, b cursor.Cursor) bool { return a.UpdatedAt.Equal(b.UpdatedAt) && a.ID == b.ID }

// newWalk prepares the first page's query after start.
func (s *Source) newWalk(start cursor.Cursor, limit int) *walk {
	q := s.base.Query()
	if s.cfg.UpdatedSinceParam != "" && !start.UpdatedAt.IsZero() {
		q.Set(s.cfg.UpdatedSinceParam, s.formatTime(start.UpdatedAt))
	}
	if s.sorted && s.cfg.AfterIDParam != "" && start.ID != "" {
		q.Set(s.cfg.AfterIDParam, start.ID)
	}
	if s.cfg.PageSizeParam != "" {
		q.Set(s.cfg.PageSizeParam, strconv.Itoa(limit))
	}
	return &walk{start: start, key: start, query: q, next: s.withQuery(q)}
}

func (s *Source) withQuery(q url.Values) *url.URL {
	u := *s.base
	u.RawQuery = q.Encode()
	return &u
}

// fetch reads the walk's next API page into w.pending and finds the page after it.
func (s *Source) fetch(ctx context.Context, w *walk) error {
	u := w.next
	where := "GET " + u.Scheme + "://" + u.Host + u.Path
	doc, resp, err := s.client.GetJSON(ctx, u.String(), nil)
	if err != nil {
		return err
	}
	items, err := s.records(doc)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	kept := 0
	var lastRaw *connector.Record
	for i, item := range items {
		rec, err := s.parseRecord(item)
		if err != nil {
			return fmt.Errorf("%s: %w", where, recordAt(i, err))
		}
		lastRaw = &rec
		if cursor.Compare(rec.Cursor(), w.start, s.CompareIDs) <= 0 || (s.sorted && sameCursor(rec.Cursor(), w.high)) {
			continue
		}
		w.pending = append(w.pending, rec)
		w.high = rec.Cursor()
		kept++
	}
	w.fetched += len(items)
	s.log.V(1).Info("read API page", "request", where, "records", len(items), "kept", kept)
	next, err := s.nextPage(w, doc, resp, u, lastRaw, len(items))
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	w.next = next
	if lastRaw != nil {
		w.lastRaw = lastRaw
	}
	return nil
}

// records finds the records array of a list answer. A null array is empty; a missing one
// is an error (a wrong recordsPath must not look like an empty API).
func (s *Source) records(doc any) ([]any, error) {
	v, ok := transport.Lookup(doc, s.cfg.RecordsPath)
	if !ok {
		return nil, fmt.Errorf("the answer has no records array at %q", s.cfg.RecordsPath)
	}
	if v == nil {
		return nil, nil
	}
	items, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("the answer's %q is not an array", s.cfg.RecordsPath)
	}
	return items, nil
}

// nextPage computes the URL of the API page after the one just read (u); nil ends the
// walk.
func (s *Source) nextPage(w *walk, doc any, resp *transport.Response, u *url.URL, lastRaw *connector.Record, n int) (*url.URL, error) {
	p := s.cfg.Pagination
	switch p.Type {
	case PageNextToken:
		tok, err := tokenValue(doc, p.TokenPath)
		if err != nil || tok == "" {
			return nil, err
		}
		if tok == w.lastToken {
			return nil, fmt.Errorf("the API returned the page token of the previous page again")
		}
		w.lastToken = tok
		if strings.HasPrefix(tok, "http://") || strings.HasPrefix(tok, "https://") || strings.HasPrefix(tok, "/") {
			return s.sameHost(u, tok)
		}
		q := cloneValues(w.query)
		q.Set(p.TokenParam, tok)
		return s.withQuery(q), nil
	case PageLinkHeader:
		link := nextLink(resp.Header)
		if link == "" {
			return nil, nil
		}
		next, err := s.sameHost(u, link)
		if err != nil {
			return nil, err
		}
		if next.String() == u.String() {
			return nil, fmt.Errorf("the API's next link points to the same page")
		}
		return next, nil
	case PageCursorID:
		if n == 0 || lastRaw == nil {
			return nil, nil
		}
		if prev := w.lastRaw; prev != nil {
			moved := lastRaw.ID != prev.ID
			if s.sorted {
				moved = cursor.Compare(lastRaw.Cursor(), prev.Cursor(), s.CompareIDs) > 0
			}
			if !moved {
				return nil, fmt.Errorf("the API did not move past record %s", lastRaw.ID)
			}
		}
		q := cloneValues(w.query)
		if s.sorted && s.cfg.UpdatedSinceParam != "" {
			q.Set(s.cfg.UpdatedSinceParam, s.formatTime(lastRaw.UpdatedAt))
		}
		q.Set(s.cfg.AfterIDParam, lastRaw.ID)
		return s.withQuery(q), nil
	case PageOffset:
		if n == 0 {
			return nil, nil
		}
		q := cloneValues(w.query)
		q.Set(p.TokenParam, strconv.Itoa(w.fetched))
		return s.withQuery(q), nil
	}
	return nil, fmt.Errorf("unknown pagination type %q", p.Type)
}

// sameHost resolves ref against u and refuses another scheme or host.
func (s *Source) sameHost(u *url.URL, ref string) (*url.URL, error) {
	next, err := u.Parse(ref)
	if err != nil {
		return nil, errors.New("the API's next page is not a valid URL")
	}
	if next.Scheme != s.base.Scheme || next.Host != s.base.Host {
		return nil, fmt.Errorf("the API's next page is on %s://%s, not on %s://%s: refused", next.Scheme, next.Host, s.base.Scheme, s.base.Host)
	}
	return next, nil
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v)+1)
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// tokenValue reads the next-page token: a string or a number; missing or null is none.
func tokenValue(doc any, path string) (string, error) {
	v, ok := transport.Lookup(doc, path)
	if !ok || v == nil {
		return "", nil
	}
	switch t := v.(type) {
	case string:
		return t, nil
	case json.Number:
		return t.String(), nil
	case bool:
		if !t {
			return "", nil
		}
	}
	return "", fmt.Errorf("the page token at %q is not a string or a number", path)
}

// nextLink returns the target of the rel="next" link of the Link headers, or "".
func nextLink(h http.Header) string {
	for _, line := range h.Values("Link") {
		rest := line
		for {
			open := strings.IndexByte(rest, '<')
			if open < 0 {
				break
			}
			closing := strings.IndexByte(rest[open:], '>')
			if closing < 0 {
				break
			}
			target := rest[open+1 : open+closing]
			rest = rest[open+closing+1:]
			params := rest
			if i := strings.IndexByte(rest, '<'); i >= 0 {
				params = rest[:i]
			}
			for _, param := range strings.Split(params, ";") {
				k, v, ok := strings.Cut(strings.TrimSpace(strings.TrimRight(strings.TrimSpace(param), ",")), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(v), `"`)) {
					if strings.EqualFold(rel, "next") {
						return target
					}
				}
			}
		}
	}
	return ""
}

// CompareIDs orders ids: numerically when both are integers (so 9 < 10), else as strings
// byte by byte (the order of most APIs' string ids). Integers that are equal in value but
// differ in form ("07", "7") fall back to the string order, so distinct ids never compare
// equal. An API mixing integer and non-integer ids has no consistent order under this rule;
// such an API should be read as unsorted.
func (s *Source) CompareIDs(a, b string) int {
	if a == b {
		return 0
	}
	if x, ok := parseInteger(a); ok {
		if y, ok := parseInteger(b); ok {
			if c := x.Cmp(y); c != 0 {
				return c
			}
		}
	}
	return strings.Compare(a, b)
}

// parseInteger parses a plain decimal integer of any size.
func parseInteger(s string) (*big.Int, bool) {
	d := strings.TrimPrefix(s, "-")
	if d == "" {
		return nil, false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return nil, false
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return big.NewInt(n), true
	}
	return new(big.Int).SetString(s, 10)
}

// CanFetchByID reports whether FetchByIDs can work: GetByIDsURL or GetByIDURL is set
// (connector.FetchCapable).
func (s *Source) CanFetchByID() bool { return s.cfg.GetByIDsURL != "" || s.cfg.GetByIDURL != "" }

// FetchByIDs gets the records of ids. With GetByIDsURL it asks for up to GetByIDsMax ids
// per request (fetchBatch), so n ids cost ceil(n/GetByIDsMax) requests; otherwise it asks
// GetByIDURL once per id ("{id}" replaced by the id, path-escaped, or query-escaped when
// it is in the query): a 404 or 410 means the record is gone, and the answer is the record
// object itself, or holds it at recordsPath (as an object, or an array of at most one).
// Either way a record the API no longer has is absent from the result.
func (s *Source) FetchByIDs(ctx context.Context, ids []string) ([]connector.Record, error) {
	if s.cfg.GetByIDsURL != "" {
		return s.fetchBatches(ctx, ids)
	}
	tpl := s.cfg.GetByIDURL
	if tpl == "" {
		return nil, errors.New("getByIdUrl is not set: records cannot be fetched by id")
	}
	inQuery := strings.Contains(tpl, "?") && strings.Index(tpl, "{id}") > strings.Index(tpl, "?")
	out := make([]connector.Record, 0, len(ids))
	for _, id := range ids {
		esc := url.PathEscape(id)
		if inQuery {
			esc = url.QueryEscape(id)
		}
		resp, err := s.client.Do(ctx, transport.Request{URL: strings.ReplaceAll(tpl, "{id}", esc), Accept: []int{http.StatusNotFound, http.StatusGone}})
		if err != nil {
			return nil, fmt.Errorf("fetch record %s: %w", id, err)
		}
		if resp.Status == http.StatusNotFound || resp.Status == http.StatusGone {
			continue
		}
		doc, err := resp.JSON()
		if err != nil {
			return nil, fmt.Errorf("fetch record %s: %w", id, err)
		}
		obj, found := s.singleRecord(doc)
		if !found {
			continue
		}
		rec, err := s.parseRecord(obj)
		if err != nil {
			return nil, fmt.Errorf("fetch record %s: %w", id, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// singleRecord finds the record in a get-by-id answer.
func (s *Source) singleRecord(doc any) (any, bool) {
	if obj, ok := doc.(map[string]any); ok {
		if _, has := transport.Lookup(obj, s.cfg.IDPath); has {
			return obj, true
		}
	}
	if s.cfg.RecordsPath != "" {
		if v, ok := transport.Lookup(doc, s.cfg.RecordsPath); ok {
			switch t := v.(type) {
			case map[string]any:
				return t, true
			case []any:
				if len(t) == 0 {
					return nil, false
				}
				if len(t) == 1 {
					return t[0], true
				}
			}
		}
	}
	if arr, ok := doc.([]any); ok && len(arr) <= 1 {
		if len(arr) == 0 {
			return nil, false
		}
		return arr[0], true
	}
	return doc, true // parseRecord says what is wrong with it
}
