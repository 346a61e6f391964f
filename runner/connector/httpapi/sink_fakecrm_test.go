package httpapi

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport/transporttest"
)

// testToken is the bearer token the fake CRM requires; it must never reach an error.
const testToken = "tok-5ecret-abc123"

// crmObject is one object of the fake CRM.
type crmObject struct {
	id    string
	key   string
	props map[string]any
}

// fakeCRM is a small CRM with the three write shapes of the sink's modes, keyed by
// "invoice_key", refusing writes that carry an older source_updated_at (409). Hooks
// script failures: reject (400 for a key, with a message), fault (a status for the next
// requests matching a method and path prefix), dropBatch (keys left out of batch answers),
// applyThenFail (a create that takes effect, then answers 503).
type fakeCRM struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	objects   []*crmObject
	nextID    int
	reject    map[string]string
	conflict  map[string]string // 409 with this message for a key, whatever it holds
	faults    []fault
	dropBatch map[string]bool
	failAfter int // creates that take effect and then answer 503
	requests  []string
	lookups   map[string]int // accounts lookups per value
	accounts  map[string][]string
}

// fault answers status to the next n requests whose "METHOD path" starts with prefix.
type fault struct {
	prefix string
	status int
	n      int
}

func newFakeCRM(t *testing.T) *fakeCRM {
	f := &fakeCRM{t: t, reject: map[string]string{}, conflict: map[string]string{}, dropBatch: map[string]bool{}, lookups: map[string]int{},
		accounts: map[string][]string{"cus_1": {"acc_1"}, "cus_2": {"acc_2"}, "cus 3/x": {"acc_3"}, "cus_dup": {"acc_8", "acc_9"}}}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /invoices/key/{key}", func(w http.ResponseWriter, r *http.Request) { f.upsertByKey(w, r, true) })
	mux.HandleFunc("PATCH /invoices/key/{key}", func(w http.ResponseWriter, r *http.Request) { f.upsertByKey(w, r, false) })
	mux.HandleFunc("DELETE /invoices/key/{key}", f.deleteByKey)
	mux.HandleFunc("POST /invoices/batch", f.batch)
	mux.HandleFunc("GET /invoices/search", f.search)
	mux.HandleFunc("POST /invoices", f.create)
	mux.HandleFunc("PATCH /invoices/{id}", f.patch)
	mux.HandleFunc("DELETE /invoices/{id}", f.deleteByID)
	mux.HandleFunc("GET /accounts", f.accountsByCustomer)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests = append(f.requests, r.Method+" "+r.URL.Path)
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			f.mu.Unlock()
			writeErr(w, http.StatusUnauthorized, "bad credentials")
			return
		}
		for i := range f.faults {
			ft := &f.faults[i]
			if ft.n > 0 && strings.HasPrefix(r.Method+" "+r.URL.Path, ft.prefix) {
				ft.n--
				f.mu.Unlock()
				if ft.status == http.StatusTooManyRequests {
					w.Header().Set("Retry-After", "1")
				}
				writeErr(w, ft.status, "injected failure")
				return
			}
		}
		f.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func writeErr(w http.ResponseWriter, status int, msg string) {
	writeObj(w, status, map[string]any{"message": msg})
}

func writeObj(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func decodeBody(r *http.Request) map[string]any {
	var m map[string]any
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	_ = dec.Decode(&m)
	return m
}

// byKeyLocked lists the objects holding key.
func (f *fakeCRM) byKeyLocked(key string) []*crmObject {
	var out []*crmObject
	for _, o := range f.objects {
		if o.key == key {
			out = append(out, o)
		}
	}
	return out
}

// apply merges (or replaces) props into o after the checks: rejection and staleness.
// It returns the result word, or an error status and message.
func (f *fakeCRM) applyLocked(o *crmObject, props map[string]any, replace bool) (string, int, string) {
	if msg, ok := f.reject[o.key]; ok {
		return "", http.StatusBadRequest, msg
	}
	if msg, ok := f.conflict[o.key]; ok {
		return "", http.StatusConflict, msg
	}
	props = maps.Clone(props)
	delete(props, "invoice_key")
	if su, ok := props["source_updated_at"].(string); ok {
		if old, ok := o.props["source_updated_at"].(string); ok {
			newer, _ := time.Parse(time.RFC3339Nano, su)
			stored, _ := time.Parse(time.RFC3339Nano, old)
			if newer.Before(stored) {
				return "", http.StatusConflict, "stale write refused: stored version is " + old
			}
		}
	}
	next := props
	if !replace {
		next = maps.Clone(o.props)
		if next == nil {
			next = map[string]any{}
		}
		maps.Copy(next, props)
	}
	if o.props != nil && fmt.Sprint(next) == fmt.Sprint(o.props) {
		return "unchanged", 0, ""
	}
	result := "updated"
	if o.props == nil {
		result = "created"
	}
	o.props = next
	return result, 0, ""
}

func (f *fakeCRM) newObjectLocked(key string) *crmObject {
	f.nextID++
	return &crmObject{id: fmt.Sprintf("crm_%d", f.nextID), key: key}
}

func (f *fakeCRM) wire(o *crmObject, result string) map[string]any {
	m := map[string]any{"id": o.id, "invoice_key": o.key, "properties": o.props}
	if result != "" {
		m["result"] = result
	}
	return m
}

func (f *fakeCRM) upsertByKey(w http.ResponseWriter, r *http.Request, replace bool) {
	key := r.PathValue("key")
	props := decodeBody(r)
	f.mu.Lock()
	defer f.mu.Unlock()
	if k, _ := props["invoice_key"].(string); k != key {
		writeErr(w, http.StatusBadRequest, "invoice_key in the body differs from the URL")
		return
	}
	held := f.byKeyLocked(key)
	if len(held) > 1 {
		writeObj(w, http.StatusMultipleChoices, map[string]any{"message": "multiple objects match", "ids": []string{held[0].id, held[1].id}})
		return
	}
	o, fresh := (*crmObject)(nil), false
	if len(held) == 1 {
		o = held[0]
	} else {
		o, fresh = f.newObjectLocked(key), true
	}
	result, status, msg := f.applyLocked(o, props, replace)
	if status != 0 {
		writeErr(w, status, msg)
		return
	}
	if fresh {
		f.objects = append(f.objects, o)
	}
	writeObj(w, http.StatusOK, f.wire(o, result))
}

func (f *fakeCRM) deleteByKey(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := r.PathValue("key")
	n := len(f.objects)
	f.objects = slices.DeleteFunc(f.objects, func(o *crmObject) bool { return o.key == key })
	if n == len(f.objects) {
		writeErr(w, http.StatusNotFound, "no such object")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeCRM) batch(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Inputs []struct {
			IDProperty string         `json:"idProperty"`
			ID         string         `json:"id"`
			Properties map[string]any `json:"properties"`
		} `json:"inputs"`
	}
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil || len(req.Inputs) == 0 {
		writeErr(w, http.StatusBadRequest, "bad batch")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	results, errs := []any{}, []any{}
	for _, in := range req.Inputs {
		if in.IDProperty != "invoice_key" {
			errs = append(errs, map[string]any{"id": in.ID, "status": 400, "message": "bad idProperty"})
			continue
		}
		held := f.byKeyLocked(in.ID)
		var o *crmObject
		fresh := false
		if len(held) > 0 {
			o = held[0]
		} else {
			o, fresh = f.newObjectLocked(in.ID), true
		}
		result, status, msg := f.applyLocked(o, in.Properties, false)
		if status != 0 {
			errs = append(errs, map[string]any{"id": in.ID, "status": status, "message": msg, "field": "total"})
			continue
		}
		if fresh {
			f.objects = append(f.objects, o)
		}
		if !f.dropBatch[in.ID] {
			results = append(results, f.wire(o, result))
		}
	}
	status := http.StatusOK
	if len(errs) > 0 {
		status = http.StatusMultiStatus
	}
	writeObj(w, status, map[string]any{"results": results, "errors": errs})
}

func (f *fakeCRM) search(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("invoice_key")
	f.mu.Lock()
	defer f.mu.Unlock()
	results := []any{}
	for _, o := range f.byKeyLocked(key) {
		results = append(results, f.wire(o, ""))
	}
	writeObj(w, http.StatusOK, map[string]any{"results": results})
}

func (f *fakeCRM) create(w http.ResponseWriter, r *http.Request) {
	props := decodeBody(r)
	key, _ := props["invoice_key"].(string)
	f.mu.Lock()
	defer f.mu.Unlock()
	if key == "" {
		writeErr(w, http.StatusBadRequest, "invoice_key required")
		return
	}
	o := f.newObjectLocked(key)
	if _, status, msg := f.applyLocked(o, props, true); status != 0 {
		writeErr(w, status, msg)
		return
	}
	f.objects = append(f.objects, o)
	if f.failAfter > 0 {
		f.failAfter--
		writeErr(w, http.StatusServiceUnavailable, "created, but the answer failed")
		return
	}
	writeObj(w, http.StatusCreated, f.wire(o, "created"))
}

func (f *fakeCRM) objectLocked(id string) *crmObject {
	for _, o := range f.objects {
		if o.id == id {
			return o
		}
	}
	return nil
}

func (f *fakeCRM) patch(w http.ResponseWriter, r *http.Request) {
	props := decodeBody(r)
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.objectLocked(r.PathValue("id"))
	if o == nil {
		writeErr(w, http.StatusNotFound, "no such object")
		return
	}
	result, status, msg := f.applyLocked(o, props, false)
	if status != 0 {
		writeErr(w, status, msg)
		return
	}
	writeObj(w, http.StatusOK, f.wire(o, result))
}

func (f *fakeCRM) deleteByID(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := r.PathValue("id")
	n := len(f.objects)
	f.objects = slices.DeleteFunc(f.objects, func(o *crmObject) bool { return o.id == id })
	if n == len(f.objects) {
		writeErr(w, http.StatusNotFound, "no such object")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeCRM) accountsByCustomer(w http.ResponseWriter, r *http.Request) {
	cust := r.URL.Query().Get("billing_customer_id")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups[cust]++
	results := []any{}
	for _, id := range f.accounts[cust] {
		results = append(results, map[string]any{"id": id, "billing_customer_id": cust})
	}
	writeObj(w, http.StatusOK, map[string]any{"results": results})
}

// state renders the CRM's objects by key, sorted: what reruns must leave identical.
func (f *fakeCRM) state() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []string{}
	for _, o := range f.objects {
		b, _ := json.Marshal(o.props)
		out = append(out, o.key+" "+string(b))
	}
	slices.Sort(out)
	return out
}

// keys lists the key of every object, duplicates included, sorted.
func (f *fakeCRM) keys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []string{}
	for _, o := range f.objects {
		out = append(out, o.key)
	}
	slices.Sort(out)
	return out
}

// seed stores an object as is (for duplicates and stored versions).
func (f *fakeCRM) seed(key string, props map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.newObjectLocked(key)
	o.props = props
	f.objects = append(f.objects, o)
}

func (f *fakeCRM) addFault(prefix string, status, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, fault{prefix, status, n})
}

func (f *fakeCRM) requestCount(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.requests {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

// spec is the sink config of mode against this CRM, as a SyncJob with the CRD defaults,
// key field invoice_key, mapping total and status, and staleWhen {status: [409],
// bodyContains: "stale write refused"} translates.
func (f *fakeCRM) spec(mode string) SinkConfig {
	s := SinkConfig{Mode: mode, Method: "PUT", SourceUpdatedAtField: "source_updated_at", BatchSize: 100,
		KeyField: "invoice_key", Fields: []string{"total", "status"}, DeleteMode: DeleteIgnore, DeleteField: "deleted_at",
		StaleWhen: &StaleMatch{Statuses: []int{http.StatusConflict}, BodyContains: "stale write refused"}}
	switch mode {
	case ModeUpsert:
		s.URL = f.srv.URL + "/invoices/key/{key}"
	case ModeBatch:
		s.URL, s.BatchSize = f.srv.URL+"/invoices/batch", 2
	case ModeLookupThenWrite:
		s.URL = f.srv.URL + "/invoices"
		s.SearchURL = f.srv.URL + "/invoices/search?invoice_key={key}"
		s.UpdateURL = f.srv.URL + "/invoices/{id}"
	}
	return s
}

// sinkClient is a client with the CRM's token, three attempts and a clock that never
// sleeps.
func sinkClient() *transport.Client {
	return mustClient(transport.Options{
		Auth:   transport.BearerAuth(testToken),
		Retry:  retryPolicy(3),
		Clock:  transporttest.NewClock(t0),
		Jitter: func(time.Duration) time.Duration { return 0 },
	})
}

// sink is a sink of spec(mode), changed by edit when not nil.
func (f *fakeCRM) sink(t *testing.T, mode string, edit func(*SinkConfig)) *Sink {
	t.Helper()
	cfg := f.spec(mode)
	if edit != nil {
		edit(&cfg)
	}
	s, err := NewSink(cfg, sinkClient(), SinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// wrec is a write record with a total and a status, updated at t0 plus minutes.
func wrec(id string, minutes int, total string) connector.WriteRecord {
	return connector.WriteRecord{
		Key:             "billing:" + id,
		SourceID:        id,
		SourceUpdatedAt: t0.Add(time.Duration(minutes) * time.Minute),
		Values:          map[string]any{"total": connector.Decimal(total), "status": "open"},
	}
}

func outcomes(rs []connector.Result) []connector.Outcome {
	out := []connector.Outcome{}
	for _, r := range rs {
		out = append(out, r.Outcome)
	}
	return out
}

var modes = []string{ModeUpsert, ModeBatch, ModeLookupThenWrite}
