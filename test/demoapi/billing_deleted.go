package demoapi

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Hard deletes and their tombstones: GET /invoices/deleted?since=RFC3339 lists the invoices
// purged at or after since, ascending by (deleted_at, id), paged like GET /invoices (limit,
// page_token in the body's "next" and a Link header), as {"id", "deleted_at"} objects.

// tombstone is a purged invoice.
type tombstone struct {
	ID        string `json:"id"`
	DeletedAt string `json:"deleted_at"`
	at        time.Time
}

// Purge removes an invoice for good (a hard delete at at, now when zero): it is no longer
// listed or fetched, and GET /invoices/deleted lists its tombstone.
func (b *Billing) Purge(id string, at time.Time) error {
	if at.IsZero() {
		at = b.opts.Clock()
	}
	at = micro(at)
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.byID[id]
	if !ok {
		return fmt.Errorf("invoice %q: %w", id, ErrNotFound)
	}
	b.remove(e)
	delete(b.byID, id)
	t := tombstone{ID: id, DeletedAt: at.Format(WireTime), at: at}
	i, _ := slices.BinarySearchFunc(b.tombstones, t, func(x, y tombstone) int {
		if c := x.at.Compare(y.at); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	b.tombstones = slices.Insert(b.tombstones, i, t)
	return nil
}

// handleDeleted serves GET /invoices/deleted.
func (b *Billing) handleDeleted(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := b.opts.DefaultLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("limit %q is not a positive integer", s))
			return
		}
		limit = min(n, b.opts.MaxLimit)
	}
	var since time.Time
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("since %q is not an RFC 3339 time", s))
			return
		}
		since = t.UTC()
	}
	offset := 0
	if s := q.Get("page_token"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("page_token %q is not a token of this API", s))
			return
		}
		offset = n
	}
	b.mu.Lock()
	i, _ := slices.BinarySearchFunc(b.tombstones, since, func(t tombstone, s time.Time) int { return t.at.Compare(s) })
	matches := b.tombstones[i:]
	from := min(offset, len(matches))
	to := min(from+limit, len(matches))
	page := slices.Clone(matches[from:to])
	more := to < len(matches)
	b.mu.Unlock()
	body := map[string]any{"data": page, "next": "", "has_more": more}
	if more {
		// Tombstones are only ever appended at their time, so an offset into the ones at or
		// after since is stable while the list grows at the end.
		next := strconv.Itoa(to)
		body["next"] = next
		vals := r.URL.Query()
		vals.Set("page_token", next)
		vals.Set("limit", strconv.Itoa(limit))
		link := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawQuery: vals.Encode()}
		w.Header().Set("Link", fmt.Sprintf("<%s>; rel=\"next\"", link.String()))
	}
	writeJSON(w, http.StatusOK, body)
}

// handleAdminPurge serves POST /admin/invoices/{id}/purge (a hard delete).
func (b *Billing) handleAdminPurge(w http.ResponseWriter, r *http.Request) {
	at, err := atParam(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if err := b.Purge(r.PathValue("id"), at); err != nil {
		writeError(w, http.StatusNotFound, "not_found", err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
