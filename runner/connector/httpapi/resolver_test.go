package httpapi

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport/transporttest"
	"github.com/checkpointed/checkpointed/runner/mapping"
)

func (f *fakeCRM) accountLookup() connector.Lookup {
	return connector.Lookup{URL: f.srv.URL + "/accounts?billing_customer_id={value}", ResultsPath: "results", IDPath: "id"}
}

func (f *fakeCRM) lookupCount(value string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups[value]
}

func (f *fakeCRM) resolver(t *testing.T, opts ResolverOptions) *Resolver {
	t.Helper()
	r, err := NewResolver(f.spec(ModeUpsert).URL, sinkClient(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestResolverCachesAnswers: found and not-found answers are cached per value (the API is
// asked once per distinct value, even by concurrent callers); several matches are an
// error.
func TestResolverCachesAnswers(t *testing.T) {
	g := NewWithT(t)
	crm := newFakeCRM(t)
	r := crm.resolver(t, ResolverOptions{})
	l := crm.accountLookup()

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for _, v := range []string{"cus_1", "cus_2", "cus 3/x", "cus_none"} {
				id, found, err := r.Resolve(t.Context(), l, v)
				if err != nil || found != (v != "cus_none") {
					t.Errorf("resolve %q: %q %v %v", v, id, found, err)
				}
			}
		})
	}
	wg.Wait()
	for v, want := range map[string]string{"cus_1": "acc_1", "cus_2": "acc_2", "cus 3/x": "acc_3"} {
		id, found, err := r.Resolve(t.Context(), l, v)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(found).To(BeTrue())
		g.Expect(id).To(Equal(want))
		g.Expect(crm.lookupCount(v)).To(Equal(1), v)
	}
	_, found, err := r.Resolve(t.Context(), l, "cus_none")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(found).To(BeFalse())
	g.Expect(crm.lookupCount("cus_none")).To(Equal(1), "negative answers are cached")

	_, _, err = r.Resolve(t.Context(), l, "cus_dup")
	g.Expect(err).To(MatchError(ContainSubstring("2 objects match, want one")))
}

// TestResolverAnswerShapes: 404, null, an object, numeric ids and the body as the list.
func TestResolverAnswerShapes(t *testing.T) {
	answers := map[string]string{
		"/a": `{"results": [{"id": 17}]}`,
		"/b": `{"data": {"account": {"ref": "acc_b"}}}`,
		"/c": `{"results": null}`,
		"/d": `[{"id": "acc_d"}]`,
		"/e": `{"results": [{"name": "no id"}]}`,
		"/f": `{"other": []}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := answers[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(a))
	}))
	t.Cleanup(srv.Close)
	cases := []struct {
		path, results, id string
		want              string
		found             bool
		err               string
	}{
		{"/a", "results", "id", "17", true, ""},
		{"/b", "data", "account.ref", "acc_b", true, ""},
		{"/c", "results", "id", "", false, ""},
		{"/d", "", "id", "acc_d", true, ""},
		{"/e", "results", "id", "", false, `has no id at "id"`},
		{"/f", "results", "id", "", false, `has no "results"`},
		{"/missing", "results", "id", "", false, ""},
	}
	r, err := NewResolver(srv.URL+"/x/{key}", mustClient(transport.Options{Retry: retryPolicy(6)}), ResolverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			g := NewWithT(t)
			l := connector.Lookup{URL: srv.URL + tc.path + "?v={value}", ResultsPath: tc.results, IDPath: tc.id}
			id, found, err := r.Resolve(t.Context(), l, "v")
			if tc.err != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.err)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(found).To(Equal(tc.found))
			g.Expect(id).To(Equal(tc.want))
		})
	}
}

// TestResolverFailsFast: after a lookup fails on 5xx past the retries, other lookups fail
// at once for the FailFast window, then are sent again; failures are not cached.
func TestResolverFailsFast(t *testing.T) {
	g := NewWithT(t)
	crm := newFakeCRM(t)
	clock := transporttest.NewClock(t0)
	r := crm.resolver(t, ResolverOptions{Clock: clock, FailFast: time.Minute})
	l := crm.accountLookup()
	crm.addFault("GET /accounts", http.StatusServiceUnavailable, 3) // the client's 3 attempts

	_, _, err := r.Resolve(t.Context(), l, "cus_1")
	g.Expect(err).To(MatchError(ContainSubstring("503")))
	_, _, err = r.Resolve(t.Context(), l, "cus_2")
	g.Expect(err).To(MatchError(ContainSubstring("not sent")))
	g.Expect(crm.requestCount("GET /accounts")).To(Equal(3))

	clock.Advance(time.Minute)
	id, found, err := r.Resolve(t.Context(), l, "cus_1")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(found).To(BeTrue())
	g.Expect(id).To(Equal("acc_1"))
}

// TestResolverStaysOnTheSinkHost: lookups carry the sink's credentials, so another host
// is refused.
func TestResolverStaysOnTheSinkHost(t *testing.T) {
	g := NewWithT(t)
	crm := newFakeCRM(t)
	r := crm.resolver(t, ResolverOptions{})
	g.Expect(r.CheckLookup(crm.accountLookup())).To(Succeed())
	elsewhere := connector.Lookup{URL: "http://elsewhere.example/a?c={value}", ResultsPath: "results", IDPath: "id"}
	g.Expect(r.CheckLookup(elsewhere)).To(MatchError(ContainSubstring("must be on the sink's")))
	_, _, err := r.Resolve(t.Context(), elsewhere, "x")
	g.Expect(err).To(MatchError(ContainSubstring("must be on the sink's")))
}

// TestResolverChecksTheLookup: a lookup without "{value}" or without an id path is
// refused, naming the field, before any request.
func TestResolverChecksTheLookup(t *testing.T) {
	g := NewWithT(t)
	crm := newFakeCRM(t)
	r := crm.resolver(t, ResolverOptions{})
	noValue := crm.accountLookup()
	noValue.URL = crm.srv.URL + "/accounts"
	g.Expect(r.CheckLookup(noValue)).To(MatchError(`lookup: url must hold "{value}"`))
	noID := crm.accountLookup()
	noID.IDPath = ""
	g.Expect(r.CheckLookup(noID)).To(MatchError("lookup: idPath must be set"))
	_, _, err := r.Resolve(t.Context(), noID, "cus_1")
	g.Expect(err).To(MatchError("lookup: idPath must be set"))
	g.Expect(crm.lookupCount("cus_1")).To(Equal(0))
	body := crm.accountLookup()
	body.ResultsPath = "" // the body itself holds the objects
	g.Expect(r.CheckLookup(body)).To(Succeed())
}

// TestLookupThroughTheSink: a mapping with a lookup, resolved by the resolver, upserted by
// the sink: the account id is written; a customer without account fails its record,
// naming the lookup; the accounts API is asked once per distinct customer.
func TestLookupThroughTheSink(t *testing.T) {
	g := NewWithT(t)
	crm := newFakeCRM(t)
	al := crm.accountLookup()
	m, err := mapping.New(mapping.Spec{SourceName: "billing", Key: mapping.Key{Field: "invoice_key"},
		Resolver: crm.resolver(t, ResolverOptions{}),
		Fields: []mapping.Field{
			{To: "account_id", From: "customer_id", Type: connector.TypeString, Lookup: &al},
			{To: "total", From: "total", Type: connector.TypeDecimal},
		}})
	g.Expect(err).NotTo(HaveOccurred())
	sink := crm.sink(t, ModeUpsert, func(c *SinkConfig) { c.KeyField, c.Fields = m.KeyField(), m.Fields() })

	var batch []connector.WriteRecord
	var errs []error
	for i, cust := range []string{"cus_1", "cus_2", "cus_1", "cus_none", "cus_1"} {
		w, err := m.MapContext(t.Context(), connector.Record{ID: string(rune('a' + i)), UpdatedAt: t0,
			Fields: map[string]any{"customer_id": cust, "total": "1.50"}})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		batch = append(batch, w)
	}
	g.Expect(errs).To(HaveLen(1))
	g.Expect(errs[0]).To(MatchError(ContainSubstring("record d field account_id: lookup target not found: lookup " + crm.srv.URL + "/accounts?billing_customer_id=cus_none found nothing")))
	res, err := sink.Upsert(t.Context(), batch)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(outcomes(res)).To(HaveEach(connector.Written))
	g.Expect(crm.state()).To(ContainElement(`billing:a {"account_id":"acc_1","source_updated_at":"2026-06-30T23:55:00Z","total":1.50}`))
	g.Expect(crm.state()).To(ContainElement(`billing:b {"account_id":"acc_2","source_updated_at":"2026-06-30T23:55:00Z","total":1.50}`))
	g.Expect(crm.lookupCount("cus_1")).To(Equal(1))
}
