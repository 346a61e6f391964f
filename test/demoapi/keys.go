package demoapi

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
)

// Key listings for full key reconciliation: GET /invoices/ids (billing) and GET
// /invoices/keys (CRM) answer ?after=<key>&limit=<n> with a JSON array of the ids (keys)
// after `after` in byte order, at most limit (default 100, at most 1000); an empty array
// ends the listing.

// keyPage answers one key-listing request from all (sorted in byte order).
func keyPage(w http.ResponseWriter, r *http.Request, all []string, defLimit, maxLimit int) {
	limit := defLimit
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("limit %q is not a positive integer", s))
			return
		}
		limit = min(n, maxLimit)
	}
	after := r.URL.Query().Get("after")
	i, found := slices.BinarySearch(all, after)
	if found {
		i++
	}
	writeJSON(w, http.StatusOK, all[i:min(i+limit, len(all))])
}

// handleIDs serves GET /invoices/ids.
func (b *Billing) handleIDs(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	ids := make([]string, 0, len(b.byID))
	for id := range b.byID {
		ids = append(ids, id)
	}
	b.mu.Unlock()
	slices.Sort(ids)
	keyPage(w, r, ids, b.opts.DefaultLimit, b.opts.MaxLimit)
}

// handleKeys serves GET /invoices/keys: the keys of the live objects.
func (c *CRM) handleKeys(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	keys := make([]string, 0, len(c.byKey))
	for k, is := range c.byKey { // indexes into objects; a deleted object's is removed
		for _, i := range is {
			if c.objects[i] != nil {
				keys = append(keys, k)
				break
			}
		}
	}
	c.mu.Unlock()
	slices.Sort(keys)
	keyPage(w, r, keys, c.opts.DefaultLimit, c.opts.MaxLimit)
}
