package demoapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// WireTime is the layout of every time the demo APIs send: RFC 3339 in UTC with exactly
// six fractional digits ("2026-06-30T23:55:00.123456Z"). Times are stored at microsecond
// precision; finer input is truncated.
const WireTime = "2006-01-02T15:04:05.000000Z07:00"

// IDStyle says how the billing API names invoices.
type IDStyle int

const (
	// StringIDs are "inv_" and a zero-padded number ("inv_00042"); they order as strings,
	// which is also their numeric order as long as they share a width.
	StringIDs IDStyle = iota
	// IntegerIDs are JSON numbers (42) and order numerically (9 < 10), unlike their
	// decimal strings.
	IntegerIDs
)

// Invoice statuses.
const (
	StatusOpen = "open"
	StatusPaid = "paid"
	StatusVoid = "void"
)

// Invoice is one billing invoice.
type Invoice struct {
	// ID is "inv_<n>" (StringIDs) or the decimal integer (IntegerIDs).
	ID string
	// CustomerID is the billing customer ("cus_<n>").
	CustomerID string
	// Status is StatusOpen, StatusPaid or StatusVoid.
	Status string
	// Total is an exact decimal amount with two fraction digits ("120.50"), sent as a
	// JSON string, never a float.
	Total string
	// Currency is an ISO 4217 code.
	Currency string
	// CreatedAt and UpdatedAt are UTC at microsecond precision.
	CreatedAt time.Time
	UpdatedAt time.Time
	// DeletedAt is set on soft-deleted invoices (they stay listed, with deleted_at set).
	DeletedAt *time.Time
}

// BillingOptions configure a Billing server. Zero values take the documented defaults.
type BillingOptions struct {
	// Clock tells the time (late updates, quota and rate limit). Defaults to time.Now.
	Clock func() time.Time
	// IDs chooses string or integer invoice ids.
	IDs IDStyle
	// Unsorted serves list pages in a random order (stable for a given query) instead of
	// ascending (updated_at, id); pages are then positions in that order.
	Unsorted bool
	// DefaultLimit is the page size without a limit parameter (default 100); MaxLimit
	// caps the limit parameter (default 1000; larger values are clamped).
	DefaultLimit, MaxLimit int
	// BatchMaxIDs caps the ids of one GET /invoices/batch request (default 100; more is a
	// 400, as SaaS batch reads refuse an oversized batch).
	BatchMaxIDs int
	// Seed makes the generated data, the unsorted order and fault draws reproducible.
	Seed int64
	// Data is the generated initial data set.
	Data BillingData
	// Faults to start with.
	Faults Faults
	// APIKey, when set, is required on API requests as "Authorization: Bearer <key>" or
	// "X-API-Key: <key>".
	APIKey string
	// Log receives a line per throttled or failed request at V(1). Defaults to discard.
	Log logr.Logger
}

// Billing is an in-memory billing API serving invoices. It is an http.Handler; see the
// package documentation for its endpoints. Safe for concurrent use.
type Billing struct {
	opts BillingOptions
	server

	mu    sync.Mutex
	byID  map[string]*billingEntry
	order []*billingEntry // ascending by (UpdatedAt, id order)
	next  int64           // next generated invoice number
	width int             // zero-padding width of generated string ids
	// tombstones of purged invoices, ascending by (deleted_at, id) (billing_deleted.go)
	tombstones []tombstone
}

type billingEntry struct {
	inv Invoice
	num int64 // the integer id (IntegerIDs)
}

// NewBilling returns a billing API holding the generated data of opts.Data.
func NewBilling(opts BillingOptions) *Billing {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.DefaultLimit <= 0 {
		opts.DefaultLimit = 100
	}
	if opts.MaxLimit <= 0 {
		opts.MaxLimit = 1000
	}
	if opts.BatchMaxIDs <= 0 {
		opts.BatchMaxIDs = 100
	}
	if opts.Log.GetSink() == nil {
		opts.Log = logr.Discard()
	}
	b := &Billing{opts: opts, byID: map[string]*billingEntry{}, next: 1}
	b.guard = newGuard(opts.Clock, opts.APIKey, opts.Seed+1, opts.Faults, opts.Log)
	b.seed(opts.Data)

	api := http.NewServeMux()
	api.HandleFunc("GET /invoices", b.handleList)
	api.HandleFunc("GET /invoices/{id}", b.handleGet)
	api.HandleFunc("GET /invoices/deleted", b.handleDeleted)
	api.HandleFunc("GET /invoices/ids", b.handleIDs)
	api.HandleFunc("GET /invoices/batch", b.handleBatchGet)
	b.api = b.guard.wrap(api)
	b.admin = http.NewServeMux()
	b.guard.adminRoutes(b.admin)
	b.admin.HandleFunc("GET /admin/invoices", b.handleAdminList)
	b.admin.HandleFunc("POST /admin/invoices", b.handleAdminUpsert)
	b.admin.HandleFunc("POST /admin/invoices/{id}/pay", b.handleAdminPay)
	b.admin.HandleFunc("DELETE /admin/invoices/{id}", b.handleAdminDelete)
	b.admin.HandleFunc("POST /admin/invoices/{id}/purge", b.handleAdminPurge)
	return b
}

// ErrNotFound is returned for an unknown invoice or object id.
var ErrNotFound = errors.New("not found")

// compare orders two entries by (UpdatedAt, id) in the configured id order.
func (b *Billing) compare(x, y *billingEntry) int {
	if c := x.inv.UpdatedAt.Compare(y.inv.UpdatedAt); c != 0 {
		return c
	}
	return b.compareIDs(x, y)
}

func (b *Billing) compareIDs(x, y *billingEntry) int {
	if b.opts.IDs == IntegerIDs {
		switch {
		case x.num < y.num:
			return -1
		case x.num > y.num:
			return 1
		}
		return 0
	}
	return strings.Compare(x.inv.ID, y.inv.ID)
}

// CompareIDs orders two invoice ids the way the API does: numerically for IntegerIDs
// (ids that are not integers sort first), as strings otherwise.
func (b *Billing) CompareIDs(x, y string) int {
	if b.opts.IDs != IntegerIDs {
		return strings.Compare(x, y)
	}
	nx, ex := strconv.ParseInt(x, 10, 64)
	ny, ey := strconv.ParseInt(y, 10, 64)
	switch {
	case ex != nil || ey != nil:
		return strings.Compare(x, y)
	case nx < ny:
		return -1
	case nx > ny:
		return 1
	}
	return 0
}

// position returns the index of the first entry in order that is after (since, afterID):
// later, or at the same time with a larger id; without an after id, the first entry at
// or after since.
func (b *Billing) position(since time.Time, after *billingEntry) int {
	i, _ := slices.BinarySearchFunc(b.order, since, func(e *billingEntry, t time.Time) int {
		if c := e.inv.UpdatedAt.Compare(t); c != 0 {
			return c
		}
		if after == nil {
			return 1 // every entry at since counts
		}
		if b.compareIDs(e, after) <= 0 {
			return -1
		}
		return 1
	})
	return i
}

func (b *Billing) remove(e *billingEntry) {
	i, found := slices.BinarySearchFunc(b.order, e, b.compare)
	if found && b.order[i] == e {
		b.order = slices.Delete(b.order, i, i+1)
	}
}

func (b *Billing) insert(e *billingEntry) {
	i, _ := slices.BinarySearchFunc(b.order, e, b.compare)
	b.order = slices.Insert(b.order, i, e)
}

// newEntry validates an id of the configured style.
func (b *Billing) newEntry(inv Invoice) (*billingEntry, error) {
	e := &billingEntry{inv: inv}
	if b.opts.IDs == IntegerIDs {
		n, err := strconv.ParseInt(inv.ID, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("invoice id %q is not an integer", inv.ID)
		}
		e.num = n
	} else if inv.ID == "" {
		return nil, errors.New("invoice id is empty")
	}
	return e, nil
}

// NextID returns an unused generated invoice id.
func (b *Billing) NextID() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nextIDLocked()
}

func (b *Billing) nextIDLocked() string {
	for {
		n := b.next
		b.next++
		id := b.formatID(n)
		if _, taken := b.byID[id]; !taken {
			return id
		}
	}
}

func (b *Billing) formatID(n int64) string {
	if b.opts.IDs == IntegerIDs {
		return strconv.FormatInt(n, 10)
	}
	return fmt.Sprintf("inv_%0*d", b.width, n)
}

// Upsert stores an invoice by id, creating or replacing it. An empty ID takes NextID; a
// zero UpdatedAt takes the clock's now; a zero CreatedAt takes UpdatedAt; an empty status
// is open, an empty currency USD, an empty total "0.00". Times are kept in UTC at
// microsecond precision. It returns the stored invoice. Use it for late updates: any
// UpdatedAt is accepted, including one behind a sync's cursor.
func (b *Billing) Upsert(inv Invoice) (Invoice, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.upsertLocked(inv)
}

func (b *Billing) upsertLocked(inv Invoice) (Invoice, error) {
	if inv.ID == "" {
		inv.ID = b.nextIDLocked()
	}
	if inv.CustomerID == "" {
		return Invoice{}, fmt.Errorf("invoice %s: customer id is empty", inv.ID)
	}
	if inv.UpdatedAt.IsZero() {
		inv.UpdatedAt = b.opts.Clock()
	}
	inv.UpdatedAt = micro(inv.UpdatedAt)
	if inv.CreatedAt.IsZero() {
		inv.CreatedAt = inv.UpdatedAt
	}
	inv.CreatedAt = micro(inv.CreatedAt)
	if inv.DeletedAt != nil {
		t := micro(*inv.DeletedAt)
		inv.DeletedAt = &t
	}
	if inv.Status == "" {
		inv.Status = StatusOpen
	}
	if inv.Currency == "" {
		inv.Currency = "USD"
	}
	if inv.Total == "" {
		inv.Total = "0.00"
	}
	if !isDecimal(inv.Total) {
		return Invoice{}, fmt.Errorf("invoice %s: total %q is not a decimal", inv.ID, inv.Total)
	}
	e, err := b.newEntry(inv)
	if err != nil {
		return Invoice{}, err
	}
	if old, ok := b.byID[inv.ID]; ok {
		b.remove(old)
	}
	b.byID[inv.ID] = e
	b.insert(e)
	return e.inv, nil
}

// Update applies fn to the stored invoice and moves its UpdatedAt to at (the clock's now
// when zero). It returns ErrNotFound for an unknown id.
func (b *Billing) Update(id string, at time.Time, fn func(*Invoice)) (Invoice, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.byID[id]
	if !ok {
		return Invoice{}, fmt.Errorf("invoice %s: %w", id, ErrNotFound)
	}
	inv := e.inv
	if fn != nil {
		fn(&inv)
	}
	if at.IsZero() {
		at = b.opts.Clock()
	}
	inv.ID, inv.UpdatedAt = id, at
	return b.upsertLocked(inv)
}

// Pay marks an invoice paid with UpdatedAt at (now when zero): the seed article's payment
// that clears late.
func (b *Billing) Pay(id string, at time.Time) (Invoice, error) {
	return b.Update(id, at, func(inv *Invoice) { inv.Status = StatusPaid })
}

// SoftDelete sets DeletedAt and UpdatedAt to at (now when zero); the invoice stays listed.
func (b *Billing) SoftDelete(id string, at time.Time) (Invoice, error) {
	if at.IsZero() {
		at = b.opts.Clock()
	}
	at = micro(at)
	return b.Update(id, at, func(inv *Invoice) { inv.DeletedAt = &at })
}

// Get returns one invoice.
func (b *Billing) Get(id string) (Invoice, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.byID[id]
	if !ok {
		return Invoice{}, false
	}
	return e.inv, true
}

// Invoices returns every invoice ascending by (UpdatedAt, id).
func (b *Billing) Invoices() []Invoice {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Invoice, len(b.order))
	for i, e := range b.order {
		out[i] = e.inv
	}
	return out
}

// Count returns the number of invoices.
func (b *Billing) Count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.order)
}

// CustomerIDs returns the distinct customer ids of the invoices, sorted.
func (b *Billing) CustomerIDs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	seen := map[string]bool{}
	for _, e := range b.order {
		seen[e.inv.CustomerID] = true
	}
	out := make([]string, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// invoiceWire is the JSON form of an invoice.
type invoiceWire struct {
	ID         any     `json:"id"`
	CustomerID string  `json:"customer_id"`
	Status     string  `json:"status"`
	Total      string  `json:"total"`
	Currency   string  `json:"currency"`
	CreatedAt  string  `json:"created_at"`
	UpdatedAt  string  `json:"updated_at"`
	DeletedAt  *string `json:"deleted_at"`
}

func (b *Billing) wire(e *billingEntry) invoiceWire {
	w := invoiceWire{
		ID: e.inv.ID, CustomerID: e.inv.CustomerID, Status: e.inv.Status, Total: e.inv.Total,
		Currency: e.inv.Currency, CreatedAt: e.inv.CreatedAt.UTC().Format(WireTime),
		UpdatedAt: e.inv.UpdatedAt.UTC().Format(WireTime),
	}
	if b.opts.IDs == IntegerIDs {
		w.ID = e.num
	}
	if e.inv.DeletedAt != nil {
		s := e.inv.DeletedAt.UTC().Format(WireTime)
		w.DeletedAt = &s
	}
	return w
}

// listPage is the body of GET /invoices.
type listPage struct {
	Data    []invoiceWire `json:"data"`
	Next    string        `json:"next"`
	HasMore bool          `json:"has_more"`
}

// pageToken is the decoded form of a page token: the query it continues and where.
type pageToken struct {
	Since    time.Time `json:"s"`
	AfterID  string    `json:"a,omitempty"`
	HasAfter bool      `json:"h,omitempty"`
	Offset   int       `json:"o,omitempty"`
}

func encodeToken(t pageToken) string {
	raw, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(raw)
}

func decodeToken(s string) (pageToken, error) {
	var t pageToken
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(raw, &t)
	}
	if err != nil {
		return pageToken{}, fmt.Errorf("page_token %q is not a token of this API", s)
	}
	return t, nil
}

// query is a parsed list request.
type query struct {
	tok    pageToken
	limit  int
	offset bool // the request paged by the offset parameter
}

func (b *Billing) parseQuery(r *http.Request) (query, error) {
	q := r.URL.Query()
	out := query{limit: b.opts.DefaultLimit}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return query{}, fmt.Errorf("limit %q is not a positive integer", s)
		}
		out.limit = min(n, b.opts.MaxLimit)
	}
	if s := q.Get("page_token"); s != "" {
		t, err := decodeToken(s)
		if err != nil {
			return query{}, err
		}
		out.tok = t
		return out, nil
	}
	if s := q.Get("updated_since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return query{}, fmt.Errorf("updated_since %q is not an RFC 3339 time", s)
		}
		out.tok.Since = t.UTC()
	}
	if s := q.Get("after_id"); s != "" {
		if b.opts.IDs == IntegerIDs {
			if _, err := strconv.ParseInt(s, 10, 64); err != nil {
				return query{}, fmt.Errorf("after_id %q is not an integer", s)
			}
		}
		out.tok.AfterID, out.tok.HasAfter = s, true
	}
	if s := q.Get("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return query{}, fmt.Errorf("offset %q is not a non-negative integer", s)
		}
		out.tok.Offset, out.offset = n, true
	}
	return out, nil
}

func (b *Billing) handleList(w http.ResponseWriter, r *http.Request) {
	q, err := b.parseQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	page, next := b.list(q)
	body := listPage{Data: page, Next: "", HasMore: next != nil}
	if next != nil {
		vals := r.URL.Query()
		if q.offset {
			vals.Set("offset", strconv.Itoa(next.Offset))
		} else {
			body.Next = encodeToken(*next)
			vals.Set("page_token", body.Next)
		}
		vals.Set("limit", strconv.Itoa(q.limit))
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		link := url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawQuery: vals.Encode()}
		w.Header().Set("Link", fmt.Sprintf("<%s>; rel=\"next\"", link.String()))
	}
	b.guard.count(func(s *Stats) { s.Records += int64(len(page)) })
	writeJSON(w, http.StatusOK, body)
}

// list returns one page for q and the token of the next page (nil: none).
func (b *Billing) list(q query) ([]invoiceWire, *pageToken) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var after *billingEntry
	if q.tok.HasAfter {
		after, _ = b.newEntry(Invoice{ID: q.tok.AfterID})
		if after == nil { // cannot happen for a parsed query; be safe for old tokens
			after = &billingEntry{inv: Invoice{ID: q.tok.AfterID}}
		}
	}
	start := b.position(q.tok.Since, after)
	matches := b.order[start:]
	if b.opts.Unsorted {
		matches = b.shuffled(matches, q.tok)
	}
	from := min(q.tok.Offset, len(matches))
	to := min(from+q.limit, len(matches))
	out := make([]invoiceWire, 0, to-from)
	for _, e := range matches[from:to] {
		out = append(out, b.wire(e))
	}
	if to >= len(matches) {
		return out, nil
	}
	if b.opts.Unsorted || q.offset {
		next := q.tok
		next.Offset = to
		return out, &next
	}
	last := matches[to-1].inv
	return out, &pageToken{Since: last.UpdatedAt, AfterID: last.ID, HasAfter: true}
}

// shuffled returns the entries in an order that depends only on the seed, the query and
// the ids (so the same query pages through the same order while the data is unchanged).
func (b *Billing) shuffled(in []*billingEntry, tok pageToken) []*billingEntry {
	salt := fmt.Sprintf("%d|%s|%s|%t", b.opts.Seed, tok.Since.Format(time.RFC3339Nano), tok.AfterID, tok.HasAfter)
	type keyed struct {
		h uint64
		e *billingEntry
	}
	ks := make([]keyed, len(in))
	for i, e := range in {
		h := fnv.New64a()
		h.Write([]byte(salt))
		h.Write([]byte(e.inv.ID))
		ks[i] = keyed{h.Sum64(), e}
	}
	slices.SortFunc(ks, func(x, y keyed) int {
		switch {
		case x.h < y.h:
			return -1
		case x.h > y.h:
			return 1
		}
		return strings.Compare(x.e.inv.ID, y.e.inv.ID)
	})
	out := make([]*billingEntry, len(ks))
	for i, k := range ks {
		out[i] = k.e
	}
	return out
}

func (b *Billing) handleGet(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	b.mu.Lock()
	e, ok := b.byID[id]
	var body invoiceWire
	if ok {
		body = b.wire(e)
	}
	b.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("invoice %s not found", id))
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// handleBatchGet answers GET /invoices/batch?ids=<id>,<id>,...: the invoices of the ids
// it holds, as {"data": [...]} in the order asked, ids it does not hold left out. More than
// BatchMaxIDs ids, or none, is a 400.
func (b *Billing) handleBatchGet(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query().Get("ids")
	if raw == "" {
		writeError(w, http.StatusBadRequest, "bad_request", "ids is required")
		return
	}
	ids := strings.Split(raw, ",")
	if len(ids) > b.opts.BatchMaxIDs {
		writeError(w, http.StatusBadRequest, "too_many_ids", fmt.Sprintf("at most %d ids per request, not %d", b.opts.BatchMaxIDs, len(ids)))
		return
	}
	page := make([]invoiceWire, 0, len(ids))
	b.mu.Lock()
	for _, id := range ids {
		if e, ok := b.byID[id]; ok {
			page = append(page, b.wire(e))
		}
	}
	b.mu.Unlock()
	b.guard.count(func(s *Stats) { s.Records += int64(len(page)) })
	writeJSON(w, http.StatusOK, listPage{Data: page})
}

// adminInvoice is the body of POST /admin/invoices (one object or an array of them).
type adminInvoice struct {
	ID         json.RawMessage `json:"id"`
	CustomerID string          `json:"customer_id"`
	Status     string          `json:"status"`
	Total      string          `json:"total"`
	Currency   string          `json:"currency"`
	CreatedAt  *time.Time      `json:"created_at"`
	UpdatedAt  *time.Time      `json:"updated_at"`
	DeletedAt  *time.Time      `json:"deleted_at"`
}

func (a adminInvoice) invoice() (Invoice, error) {
	inv := Invoice{CustomerID: a.CustomerID, Status: a.Status, Total: a.Total, Currency: a.Currency, DeletedAt: a.DeletedAt}
	if len(a.ID) > 0 && string(a.ID) != "null" {
		var s string
		if err := json.Unmarshal(a.ID, &s); err == nil {
			inv.ID = s
		} else {
			var n json.Number
			if err := json.Unmarshal(a.ID, &n); err != nil {
				return Invoice{}, fmt.Errorf("id %s is neither a string nor a number", a.ID)
			}
			inv.ID = n.String()
		}
	}
	if a.CreatedAt != nil {
		inv.CreatedAt = *a.CreatedAt
	}
	if a.UpdatedAt != nil {
		inv.UpdatedAt = *a.UpdatedAt
	}
	switch inv.Status {
	case "", StatusOpen, StatusPaid, StatusVoid:
	default:
		return Invoice{}, fmt.Errorf("status %q is not open, paid or void", inv.Status)
	}
	return inv, nil
}

func (b *Billing) handleAdminUpsert(w http.ResponseWriter, r *http.Request) {
	raw, err := readBody(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	var items []adminInvoice
	if trimmed := strings.TrimSpace(string(raw)); strings.HasPrefix(trimmed, "[") {
		err = json.Unmarshal(raw, &items)
	} else {
		var one adminInvoice
		err = json.Unmarshal(raw, &one)
		items = []adminInvoice{one}
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("decode invoices: %v", err))
		return
	}
	invs := make([]Invoice, 0, len(items))
	for i, it := range items {
		inv, err := it.invoice()
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("invoice %d: %v", i, err))
			return
		}
		invs = append(invs, inv)
	}
	b.mu.Lock()
	out := make([]invoiceWire, 0, len(invs))
	for _, inv := range invs {
		stored, err := b.upsertLocked(inv)
		if err != nil {
			b.mu.Unlock()
			writeError(w, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		out = append(out, b.wire(b.byID[stored.ID]))
	}
	b.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}

// atParam reads the optional "updated_at" time of an admin change from the query or a
// JSON body {"updated_at": "..."}; zero means now.
func atParam(r *http.Request) (time.Time, error) {
	if s := r.URL.Query().Get("updated_at"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("updated_at %q is not an RFC 3339 time", s)
		}
		return t, nil
	}
	raw, err := readBody(r)
	if err != nil || len(strings.TrimSpace(string(raw))) == 0 {
		return time.Time{}, err
	}
	var body struct {
		UpdatedAt *time.Time `json:"updated_at"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return time.Time{}, fmt.Errorf("decode body: %w", err)
	}
	if body.UpdatedAt == nil {
		return time.Time{}, nil
	}
	return *body.UpdatedAt, nil
}

func (b *Billing) handleAdminPay(w http.ResponseWriter, r *http.Request) {
	b.adminChange(w, r, b.Pay)
}

func (b *Billing) handleAdminDelete(w http.ResponseWriter, r *http.Request) {
	b.adminChange(w, r, b.SoftDelete)
}

func (b *Billing) adminChange(w http.ResponseWriter, r *http.Request, change func(string, time.Time) (Invoice, error)) {
	at, err := atParam(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	inv, err := change(r.PathValue("id"), at)
	if errors.Is(err, ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", err.Error())
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	b.mu.Lock()
	body := b.wire(b.byID[inv.ID])
	b.mu.Unlock()
	writeJSON(w, http.StatusOK, body)
}

func (b *Billing) handleAdminList(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	out := make([]invoiceWire, len(b.order))
	for i, e := range b.order {
		out[i] = b.wire(e)
	}
	b.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"data": out, "count": len(out)})
}

// micro truncates t to microseconds in UTC, the precision the API stores and sends.
func micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// isDecimal reports whether s is a plain decimal number ("-12", "120.50").
func isDecimal(s string) bool {
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" || (hasDot && frac == "") {
		return false
	}
	for _, part := range []string{intPart, frac} {
		for _, c := range part {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}

func readBody(r *http.Request) ([]byte, error) {
	raw, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, 32<<20))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return raw, nil
}
