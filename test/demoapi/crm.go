package demoapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// Well-known CRM invoice properties.
const (
	// AccountField links an invoice to a CRM account by the account's CRM id; the account
	// must exist.
	AccountField = "account_id"
	// AccountByCustomerField links an invoice to the CRM account whose stored
	// billing_customer_id is the given value (a relationship by external id, as
	// Salesforce allows); the CRM resolves it and stores the account's id in AccountField.
	AccountByCustomerField = "account_billing_customer_id"
	// TotalField, when present and not null, must be a decimal (a JSON number or a
	// decimal string).
	TotalField = "total"
)

// Account is a CRM account; BillingCustomerID links it to the billing tool.
type Account struct {
	ID                string `json:"id"`
	Name              string `json:"name"`
	BillingCustomerID string `json:"billing_customer_id"`
}

// Object is a stored CRM invoice object.
type Object struct {
	// ID is the CRM's own id ("crm_0000001"), assigned in creation order.
	ID string
	// Key is the external key (the billing_invoice_id).
	Key string
	// Properties as last written (JSON numbers as json.Number, times as strings).
	Properties map[string]any
	// SourceUpdatedAt is the newest source_updated_at ever written to the object: writes
	// carrying an older one are refused as stale.
	SourceUpdatedAt time.Time
	// Version starts at 1 and grows with every change (not with unchanged writes).
	Version int
	// CreatedAt and UpdatedAt are the CRM's own times (by the clock).
	CreatedAt, UpdatedAt time.Time
}

// CRMOptions configure a CRM server. Zero values take the documented defaults.
type CRMOptions struct {
	// Clock tells the time (object times, quota and rate limit). Defaults to time.Now.
	Clock func() time.Time
	// Customers are billing customer ids; the CRM starts with one account per customer
	// ("acc_<n>" in the given order, named "Customer <id>").
	Customers []string
	// OmitAccounts are customers that get no account (to test a missing lookup target).
	OmitAccounts []string
	// KeyField is the external key's name (default "billing_invoice_id"): the path
	// segment of the upsert URL, the search parameter and the batch idProperty.
	KeyField string
	// SourceUpdatedAtField is the property carrying the source's updated time (default
	// "source_updated_at"); see the package documentation on stale writes.
	SourceUpdatedAtField string
	// RequireAccount rejects writes that leave an object without AccountField.
	RequireAccount bool
	// MaxBatch bounds the inputs of one batch upsert (default 100, as HubSpot).
	MaxBatch int
	// DefaultLimit and MaxLimit bound GET /invoices pages (defaults 100 and 1000).
	DefaultLimit, MaxLimit int
	// Seed makes fault draws reproducible.
	Seed int64
	// Faults to start with.
	Faults Faults
	// APIKey, when set, is required on API requests (as for Billing).
	APIKey string
	// Log receives a line per throttled or failed request at V(1). Defaults to discard.
	Log logr.Logger
}

// CRM is an in-memory CRM API holding accounts and invoice objects. It is an
// http.Handler; see the package documentation for its endpoints. Safe for concurrent use.
type CRM struct {
	opts CRMOptions
	server

	mu         sync.Mutex
	accounts   []*Account
	accByID    map[string]*Account
	accByCust  map[string][]*Account
	nextAcc    int
	objects    []*Object // objects[n-1] has id n; nil once deleted
	byKey      map[string][]int
	live       int
	rejections map[string]string
}

// NewCRM returns a CRM holding one account per opts.Customers (but opts.OmitAccounts)
// and no invoice objects.
func NewCRM(opts CRMOptions) *CRM {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.KeyField == "" {
		opts.KeyField = "billing_invoice_id"
	}
	if opts.SourceUpdatedAtField == "" {
		opts.SourceUpdatedAtField = "source_updated_at"
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 100
	}
	if opts.DefaultLimit <= 0 {
		opts.DefaultLimit = 100
	}
	if opts.MaxLimit <= 0 {
		opts.MaxLimit = 1000
	}
	if opts.Log.GetSink() == nil {
		opts.Log = logr.Discard()
	}
	c := &CRM{
		opts: opts, accByID: map[string]*Account{}, accByCust: map[string][]*Account{},
		byKey: map[string][]int{}, rejections: map[string]string{}, nextAcc: 1,
	}
	c.guard = newGuard(opts.Clock, opts.APIKey, opts.Seed+2, opts.Faults, opts.Log)
	omit := map[string]bool{}
	for _, id := range opts.OmitAccounts {
		omit[id] = true
	}
	for _, cust := range opts.Customers {
		if !omit[cust] {
			c.addAccountLocked(cust, "")
		}
	}

	k := opts.KeyField
	api := http.NewServeMux()
	api.HandleFunc("GET /accounts", c.handleAccounts)
	api.HandleFunc("GET /accounts/{id}", c.handleAccount)
	api.HandleFunc("GET /invoices", c.handleList)
	api.HandleFunc("POST /invoices", c.handleCreate)
	api.HandleFunc("GET /invoices/search", c.handleSearch)
	api.HandleFunc("GET /invoices/count", c.handleCount)
	api.HandleFunc("GET /invoices/keys", c.handleKeys)
	api.HandleFunc("GET /invoices/{id}", c.handleGet)
	api.HandleFunc("PATCH /invoices/{id}", c.handlePatch)
	api.HandleFunc("DELETE /invoices/{id}", c.handleDelete)
	api.HandleFunc("GET /invoices/"+k+"/{key}", c.handleGetByKey)
	api.HandleFunc("PUT /invoices/"+k+"/{key}", func(w http.ResponseWriter, r *http.Request) { c.handleUpsert(w, r, true) })
	api.HandleFunc("PATCH /invoices/"+k+"/{key}", func(w http.ResponseWriter, r *http.Request) { c.handleUpsert(w, r, false) })
	api.HandleFunc("DELETE /invoices/"+k+"/{key}", c.handleDeleteByKey)
	api.HandleFunc("POST /invoices/batch/upsert", c.handleBatch)
	c.api = c.guard.wrap(api)

	c.admin = http.NewServeMux()
	c.guard.adminRoutes(c.admin)
	c.admin.HandleFunc("GET /admin/invoices", c.handleAdminInvoices)
	c.admin.HandleFunc("GET /admin/duplicates", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"keys": c.DuplicateKeys()})
	})
	c.admin.HandleFunc("GET /admin/rejections", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, c.Rejections())
	})
	c.admin.HandleFunc("PUT /admin/rejections/{key}", c.handleAdminReject)
	c.admin.HandleFunc("DELETE /admin/rejections/{key}", func(w http.ResponseWriter, r *http.Request) {
		c.ClearRejection(r.PathValue("key"))
		w.WriteHeader(http.StatusNoContent)
	})
	c.admin.HandleFunc("DELETE /admin/rejections", func(w http.ResponseWriter, r *http.Request) {
		c.ClearRejections()
		w.WriteHeader(http.StatusNoContent)
	})
	c.admin.HandleFunc("POST /admin/accounts", c.handleAdminAddAccount)
	c.admin.HandleFunc("DELETE /admin/accounts/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !c.RemoveAccount(r.PathValue("id")) {
			writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("account %s not found", r.PathValue("id")))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return c
}

// AddAccount creates an account for a billing customer (name defaults to "Customer <id>").
func (c *CRM) AddAccount(billingCustomerID, name string) Account {
	c.mu.Lock()
	defer c.mu.Unlock()
	return *c.addAccountLocked(billingCustomerID, name)
}

func (c *CRM) addAccountLocked(cust, name string) *Account {
	if name == "" {
		name = "Customer " + cust
	}
	a := &Account{ID: fmt.Sprintf("acc_%05d", c.nextAcc), Name: name, BillingCustomerID: cust}
	c.nextAcc++
	c.accounts = append(c.accounts, a)
	c.accByID[a.ID] = a
	c.accByCust[cust] = append(c.accByCust[cust], a)
	return a
}

// RemoveAccount deletes an account; objects keep their account_id. It reports whether
// the account existed.
func (c *CRM) RemoveAccount(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.accByID[id]
	if !ok {
		return false
	}
	delete(c.accByID, id)
	c.accounts = slices.DeleteFunc(c.accounts, func(x *Account) bool { return x == a })
	c.accByCust[a.BillingCustomerID] = slices.DeleteFunc(c.accByCust[a.BillingCustomerID], func(x *Account) bool { return x == a })
	return true
}

// Accounts returns every account in id order.
func (c *CRM) Accounts() []Account {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Account, len(c.accounts))
	for i, a := range c.accounts {
		out[i] = *a
	}
	return out
}

// AccountForCustomer returns the first account whose billing_customer_id is cust.
func (c *CRM) AccountForCustomer(cust string) (Account, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if as := c.accByCust[cust]; len(as) > 0 {
		return *as[0], true
	}
	return Account{}, false
}

// Reject makes every write of the key fail with 400 and message until cleared (an
// injected per-record validation failure such as "total must be a number").
func (c *CRM) Reject(key, message string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rejections[key] = message
}

// ClearRejection lets writes of the key through again.
func (c *CRM) ClearRejection(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.rejections, key)
}

// ClearRejections clears every injected rejection.
func (c *CRM) ClearRejections() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.rejections)
}

// Rejections returns the injected rejections by key.
func (c *CRM) Rejections() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.rejections)
}

// Invoices returns a snapshot of every live object in creation (id) order.
func (c *CRM) Invoices() []Object {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Object, 0, c.live)
	for _, o := range c.objects {
		if o != nil {
			out = append(out, snapshot(o))
		}
	}
	return out
}

// Count returns the number of live objects (duplicates counted each).
func (c *CRM) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live
}

// Find returns the live objects holding the external key (more than one: duplicates).
func (c *CRM) Find(key string) []Object {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Object
	for _, i := range c.byKey[key] {
		out = append(out, snapshot(c.objects[i]))
	}
	return out
}

// Get returns the object with the CRM id.
func (c *CRM) Get(id string) (Object, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.objectLocked(id)
	if o == nil {
		return Object{}, false
	}
	return snapshot(o), true
}

// DuplicateKeys returns, sorted, the external keys held by more than one live object.
func (c *CRM) DuplicateKeys() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for k, is := range c.byKey {
		if len(is) > 1 {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func snapshot(o *Object) Object {
	s := *o
	s.Properties = maps.Clone(o.Properties)
	return s
}

func (c *CRM) objectLocked(id string) *Object {
	n, ok := objectNumber(id)
	if !ok || n < 1 || n > len(c.objects) {
		return nil
	}
	return c.objects[n-1]
}

func objectNumber(id string) (int, bool) {
	s, ok := strings.CutPrefix(id, "crm_")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// recordError is why one record write was refused.
type recordError struct {
	status int
	code   string
	msg    string
	ids    []string // multiple matches
}

func validationError(format string, args ...any) *recordError {
	return &recordError{status: http.StatusBadRequest, code: "validation", msg: fmt.Sprintf(format, args...)}
}

// prepare validates the fields of a write of key and returns the properties to store and
// the source time they carry (zero when absent). Call with c.mu held.
func (c *CRM) prepare(key string, fields map[string]any) (map[string]any, time.Time, *recordError) {
	if key == "" {
		return nil, time.Time{}, validationError("%s required", c.opts.KeyField)
	}
	if msg, ok := c.rejections[key]; ok {
		return nil, time.Time{}, validationError("%s", msg)
	}
	props := maps.Clone(fields)
	if props == nil {
		props = map[string]any{}
	}
	if v, ok := props[c.opts.KeyField]; ok {
		if s, _ := v.(string); s != key {
			return nil, time.Time{}, validationError("%s %v in the body differs from the key %s", c.opts.KeyField, v, key)
		}
		delete(props, c.opts.KeyField)
	}
	delete(props, "id")
	var su time.Time
	if v, ok := props[c.opts.SourceUpdatedAtField]; ok && v != nil {
		s, _ := v.(string)
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, time.Time{}, validationError("%s must be an RFC 3339 time", c.opts.SourceUpdatedAtField)
		}
		su = t.UTC()
		props[c.opts.SourceUpdatedAtField] = su.Format(time.RFC3339Nano)
	}
	if v, ok := props[TotalField]; ok && v != nil {
		switch t := v.(type) {
		case json.Number:
		case string:
			if !isDecimal(t) {
				return nil, time.Time{}, validationError("total must be a number")
			}
		default:
			return nil, time.Time{}, validationError("total must be a number")
		}
	}
	if v, ok := props[AccountByCustomerField]; ok && v != nil {
		cust, _ := v.(string)
		as := c.accByCust[cust]
		if len(as) == 0 {
			return nil, time.Time{}, validationError("no account with billing_customer_id %v", v)
		}
		if given, ok := props[AccountField]; ok && given != nil && given != as[0].ID {
			return nil, time.Time{}, validationError("account_id %v is not the account of billing_customer_id %s", given, cust)
		}
		props[AccountField] = as[0].ID
	}
	if v, ok := props[AccountField]; ok && v != nil {
		id, _ := v.(string)
		if _, exists := c.accByID[id]; !exists {
			return nil, time.Time{}, validationError("account_id %v does not exist", v)
		}
	}
	return props, su, nil
}

// Write results.
const (
	resultCreated   = "created"
	resultUpdated   = "updated"
	resultUnchanged = "unchanged"
)

// write applies prepared properties to o (nil: create an object for key). replace drops
// properties the write does not carry (PUT); otherwise they are merged (PATCH, batch).
// Call with c.mu held.
func (c *CRM) write(o *Object, key string, props map[string]any, su time.Time, replace bool) (*Object, string, *recordError) {
	now := c.opts.Clock()
	if o == nil {
		if c.opts.RequireAccount && props[AccountField] == nil {
			return nil, "", c.count(validationError("account_id required"))
		}
		o = &Object{
			ID: fmt.Sprintf("crm_%07d", len(c.objects)+1), Key: key, Properties: props,
			SourceUpdatedAt: su, Version: 1, CreatedAt: now, UpdatedAt: now,
		}
		c.objects = append(c.objects, o)
		c.byKey[key] = append(c.byKey[key], len(c.objects)-1)
		c.live++
		c.guard.count(func(s *Stats) { s.Created++; s.Records++ })
		return o, resultCreated, nil
	}
	if !su.IsZero() && su.Before(o.SourceUpdatedAt) {
		return nil, "", c.count(&recordError{status: http.StatusConflict, code: "stale", msg: fmt.Sprintf(
			"stale write refused: %s %s is older than the stored %s", c.opts.SourceUpdatedAtField,
			su.Format(time.RFC3339Nano), o.SourceUpdatedAt.Format(time.RFC3339Nano))})
	}
	next := props
	if !replace {
		next = maps.Clone(o.Properties)
		maps.Copy(next, props)
	}
	if c.opts.RequireAccount && next[AccountField] == nil {
		return nil, "", c.count(validationError("account_id required"))
	}
	if reflect.DeepEqual(next, o.Properties) {
		c.guard.count(func(s *Stats) { s.Unchanged++ })
		return o, resultUnchanged, nil
	}
	o.Properties = next
	if su.After(o.SourceUpdatedAt) {
		o.SourceUpdatedAt = su
	}
	o.Version++
	o.UpdatedAt = now
	c.guard.count(func(s *Stats) { s.Updated++; s.Records++ })
	return o, resultUpdated, nil
}

// count records a refused write in the stats and returns it.
func (c *CRM) count(e *recordError) *recordError {
	c.guard.count(func(s *Stats) {
		if e.code == "stale" {
			s.Stale++
		} else {
			s.Rejected++
		}
	})
	return e
}

// wire renders an object; result, when set, says what the write did.
func (c *CRM) wire(o *Object, result string) map[string]any {
	m := map[string]any{
		"id":            o.ID,
		c.opts.KeyField: o.Key,
		"properties":    o.Properties,
		"version":       o.Version,
		"created_at":    o.CreatedAt.UTC().Format(WireTime),
		"updated_at":    o.UpdatedAt.UTC().Format(WireTime),
	}
	if result != "" {
		m["result"] = result
	}
	return m
}

// decodeFields reads a single-object write body: either the fields themselves or
// {"properties": {...}} (the key field may then sit beside "properties").
func decodeFields(r *http.Request) (map[string]any, error) {
	raw, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var body map[string]any
	if err := dec.Decode(&body); err != nil {
		return nil, fmt.Errorf("body is not a JSON object: %w", err)
	}
	if props, ok := body["properties"].(map[string]any); ok {
		for k, v := range body {
			if k != "properties" {
				if _, clash := props[k]; !clash {
					props[k] = v
				}
			}
		}
		return props, nil
	}
	return body, nil
}

func writeRecordError(w http.ResponseWriter, e *recordError) {
	if e.ids != nil {
		writeJSON(w, e.status, map[string]any{"code": e.code, "message": e.msg, "ids": e.ids})
		return
	}
	writeError(w, e.status, e.code, e.msg)
}

// upsertLocked writes by external key: create, update, or refuse when several objects
// hold the key.
func (c *CRM) upsertLocked(key string, fields map[string]any, replace bool) (*Object, string, *recordError) {
	props, su, rerr := c.prepare(key, fields)
	if rerr != nil {
		return nil, "", c.count(rerr)
	}
	var o *Object
	switch is := c.byKey[key]; len(is) {
	case 0:
	case 1:
		o = c.objects[is[0]]
	default:
		ids := make([]string, len(is))
		for n, i := range is {
			ids[n] = c.objects[i].ID
		}
		return nil, "", c.count(&recordError{status: http.StatusMultipleChoices, code: "multiple_matches",
			msg: fmt.Sprintf("%d objects have %s %s", len(is), c.opts.KeyField, key), ids: ids})
	}
	return c.write(o, key, props, su, replace)
}

func (c *CRM) handleUpsert(w http.ResponseWriter, r *http.Request, replace bool) {
	fields, err := decodeFields(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	c.mu.Lock()
	o, result, rerr := c.upsertLocked(r.PathValue("key"), fields, replace)
	var body map[string]any
	if rerr == nil {
		body = c.wire(o, result)
	}
	c.mu.Unlock()
	if rerr != nil {
		writeRecordError(w, rerr)
		return
	}
	status := http.StatusOK
	if result == resultCreated {
		status = http.StatusCreated
	}
	writeJSON(w, status, body)
}

// batchRequest is the body of POST /invoices/batch/upsert.
type batchRequest struct {
	Inputs []struct {
		IDProperty string         `json:"idProperty"`
		ID         string         `json:"id"`
		Properties map[string]any `json:"properties"`
	} `json:"inputs"`
}

// batchError is one refused input of a batch.
type batchError struct {
	ID      string   `json:"id"`
	Status  int      `json:"status"`
	Code    string   `json:"code"`
	Message string   `json:"message"`
	IDs     []string `json:"ids,omitempty"`
}

func (c *CRM) handleBatch(w http.ResponseWriter, r *http.Request) {
	raw, err := readBody(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var req batchRequest
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("body is not a batch: %v", err))
		return
	}
	if len(req.Inputs) == 0 {
		writeError(w, http.StatusBadRequest, "bad_request", "inputs is empty")
		return
	}
	if len(req.Inputs) > c.opts.MaxBatch {
		writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("%d inputs exceed the limit of %d", len(req.Inputs), c.opts.MaxBatch))
		return
	}
	results := []map[string]any{}
	errs := []batchError{}
	c.mu.Lock()
	for _, in := range req.Inputs {
		var (
			o      *Object
			result string
			rerr   *recordError
		)
		if in.IDProperty != c.opts.KeyField {
			rerr = c.count(validationError("idProperty %q is not %s", in.IDProperty, c.opts.KeyField))
		} else {
			o, result, rerr = c.upsertLocked(in.ID, in.Properties, false)
		}
		if rerr != nil {
			status := rerr.status
			if status == http.StatusMultipleChoices {
				status = http.StatusConflict
			}
			errs = append(errs, batchError{ID: in.ID, Status: status, Code: rerr.code, Message: rerr.msg, IDs: rerr.ids})
			continue
		}
		results = append(results, c.wire(o, result))
	}
	c.mu.Unlock()
	status := http.StatusOK
	if len(errs) > 0 {
		status = http.StatusMultiStatus
	}
	writeJSON(w, status, map[string]any{"status": "COMPLETE", "results": results, "errors": errs, "numErrors": len(errs)})
}

func (c *CRM) handleCreate(w http.ResponseWriter, r *http.Request) {
	fields, err := decodeFields(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	key, _ := fields[c.opts.KeyField].(string)
	c.mu.Lock()
	props, su, rerr := c.prepare(key, fields)
	var o *Object
	if rerr != nil {
		c.count(rerr)
	} else {
		o, _, rerr = c.write(nil, key, props, su, false)
	}
	var body map[string]any
	if rerr == nil {
		body = c.wire(o, resultCreated)
	}
	c.mu.Unlock()
	if rerr != nil {
		writeRecordError(w, rerr)
		return
	}
	writeJSON(w, http.StatusCreated, body)
}

func (c *CRM) handlePatch(w http.ResponseWriter, r *http.Request) {
	fields, err := decodeFields(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	id := r.PathValue("id")
	c.mu.Lock()
	o := c.objectLocked(id)
	var (
		result string
		rerr   *recordError
		body   map[string]any
	)
	if o == nil {
		rerr = &recordError{status: http.StatusNotFound, code: "not_found", msg: fmt.Sprintf("object %s not found", id)}
	} else {
		var props map[string]any
		var su time.Time
		if props, su, rerr = c.prepare(o.Key, fields); rerr != nil {
			c.count(rerr)
		} else {
			o, result, rerr = c.write(o, o.Key, props, su, false)
		}
	}
	if rerr == nil {
		body = c.wire(o, result)
	}
	c.mu.Unlock()
	if rerr != nil {
		writeRecordError(w, rerr)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (c *CRM) handleGet(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c.mu.Lock()
	o := c.objectLocked(id)
	var body map[string]any
	if o != nil {
		body = c.wire(o, "")
	}
	c.mu.Unlock()
	if o == nil {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("object %s not found", id))
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (c *CRM) handleGetByKey(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	c.mu.Lock()
	is := c.byKey[key]
	var body map[string]any
	ids := make([]string, len(is))
	for n, i := range is {
		ids[n] = c.objects[i].ID
	}
	if len(is) == 1 {
		body = c.wire(c.objects[is[0]], "")
	}
	c.mu.Unlock()
	switch len(is) {
	case 0:
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no object has %s %s", c.opts.KeyField, key))
	case 1:
		writeJSON(w, http.StatusOK, body)
	default:
		writeRecordError(w, &recordError{status: http.StatusMultipleChoices, code: "multiple_matches",
			msg: fmt.Sprintf("%d objects have %s %s", len(is), c.opts.KeyField, key), ids: ids})
	}
}

// deleteLocked removes the object at index i.
func (c *CRM) deleteLocked(i int) {
	o := c.objects[i]
	c.objects[i] = nil
	c.byKey[o.Key] = slices.DeleteFunc(c.byKey[o.Key], func(x int) bool { return x == i })
	if len(c.byKey[o.Key]) == 0 {
		delete(c.byKey, o.Key)
	}
	c.live--
}

func (c *CRM) handleDelete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c.mu.Lock()
	o := c.objectLocked(id)
	if o != nil {
		n, _ := objectNumber(id)
		c.deleteLocked(n - 1)
	}
	c.mu.Unlock()
	if o == nil {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("object %s not found", id))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (c *CRM) handleDeleteByKey(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	c.mu.Lock()
	is := slices.Clone(c.byKey[key])
	if len(is) == 1 {
		c.deleteLocked(is[0])
	}
	c.mu.Unlock()
	switch len(is) {
	case 0:
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no object has %s %s", c.opts.KeyField, key))
	case 1:
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, http.StatusMultipleChoices, "multiple_matches", fmt.Sprintf("%d objects have %s %s", len(is), c.opts.KeyField, key))
	}
}

func (c *CRM) handleSearch(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get(c.opts.KeyField)
	if key == "" {
		writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("query parameter %s is required", c.opts.KeyField))
		return
	}
	c.mu.Lock()
	results := []map[string]any{}
	for _, i := range c.byKey[key] {
		results = append(results, c.wire(c.objects[i], ""))
	}
	c.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"results": results, "total": len(results)})
}

func (c *CRM) handleList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := c.opts.DefaultLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("limit %q is not a positive integer", s))
			return
		}
		limit = min(n, c.opts.MaxLimit)
	}
	start := 0
	if s := q.Get("after"); s != "" {
		n, ok := objectNumber(s)
		if !ok {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("after %q is not an object id", s))
			return
		}
		start = n
	}
	c.mu.Lock()
	results := []map[string]any{}
	next, last := "", ""
	for i := max(start, 0); i < len(c.objects); i++ {
		o := c.objects[i]
		if o == nil {
			continue
		}
		if len(results) == limit {
			next = last
			break
		}
		results = append(results, c.wire(o, ""))
		last = o.ID
	}
	c.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"results": results, "next": next})
}

func (c *CRM) handleCount(w http.ResponseWriter, r *http.Request) {
	var from, to time.Time
	for name, dst := range map[string]*time.Time{"source_updated_from": &from, "source_updated_to": &to} {
		if s := r.URL.Query().Get(name); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("%s %q is not an RFC 3339 time", name, s))
				return
			}
			*dst = t
		}
	}
	unset := r.URL.Query()["unset"]
	c.mu.Lock()
	n := 0
objects:
	for _, o := range c.objects {
		if o == nil || (!from.IsZero() && o.SourceUpdatedAt.Before(from)) || (!to.IsZero() && o.SourceUpdatedAt.After(to)) {
			continue
		}
		for _, p := range unset {
			if o.Properties[p] != nil {
				continue objects
			}
		}
		n++
	}
	c.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"count": n})
}

func (c *CRM) handleAccounts(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	results := []Account{}
	if cust := r.URL.Query().Get("billing_customer_id"); cust != "" {
		for _, a := range c.accByCust[cust] {
			results = append(results, *a)
		}
	} else {
		for _, a := range c.accounts {
			results = append(results, *a)
		}
	}
	c.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"results": results})
}

func (c *CRM) handleAccount(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c.mu.Lock()
	a, ok := c.accByID[id]
	var body Account
	if ok {
		body = *a
	}
	c.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("account %s not found", id))
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (c *CRM) handleAdminInvoices(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	results := make([]map[string]any, 0, c.live)
	for _, o := range c.objects {
		if o != nil {
			results = append(results, c.wire(o, ""))
		}
	}
	c.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"results": results, "count": len(results)})
}

func (c *CRM) handleAdminReject(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Message string `json:"message"`
	}
	if err := decodeStrict(r, &body); err != nil || body.Message == "" {
		writeError(w, http.StatusBadRequest, "bad_request", `body must be {"message": "..."}`)
		return
	}
	c.Reject(r.PathValue("key"), body.Message)
	w.WriteHeader(http.StatusNoContent)
}

func (c *CRM) handleAdminAddAccount(w http.ResponseWriter, r *http.Request) {
	var body struct {
		BillingCustomerID string `json:"billing_customer_id"`
		Name              string `json:"name"`
	}
	if err := decodeStrict(r, &body); err != nil || body.BillingCustomerID == "" {
		writeError(w, http.StatusBadRequest, "bad_request", `body must be {"billing_customer_id": "...", "name": "..."}`)
		return
	}
	writeJSON(w, http.StatusCreated, c.AddAccount(body.BillingCustomerID, body.Name))
}
