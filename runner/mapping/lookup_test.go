package mapping

import (
	"context"
	"errors"
	"sync"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// fakeResolver answers from a table and records what it was asked.
type fakeResolver struct {
	ids      map[string]string
	err      error
	checkErr error

	mu    sync.Mutex
	asked []string
}

func (f *fakeResolver) Resolve(_ context.Context, l connector.Lookup, value string) (string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, l.URL+" "+value)
	if f.err != nil {
		return "", false, f.err
	}
	id, ok := f.ids[value]
	return id, ok, nil
}

func (f *fakeResolver) CheckLookup(connector.Lookup) error { return f.checkErr }

var accountLookup = &connector.Lookup{URL: "http://crm/accounts?billing_customer_id={value}", ResultsPath: "results", IDPath: "id"}

func lookupMapping(g Gomega, r connector.Resolver, typ connector.FieldType) *Mapping {
	m, err := New(Spec{SourceName: "billing", Key: Key{Field: "ext_id"}, Resolver: r, Fields: []Field{
		{To: "account_id", From: "customer_id", Type: typ, Lookup: accountLookup},
		{To: "total", From: "total", Type: connector.TypeDecimal, Required: true},
	}})
	g.Expect(err).NotTo(HaveOccurred())
	return m
}

// TestLookupValues: the written value is the target's id; nulls stay null without a
// lookup; a missing target or a failed lookup is a record error naming the lookup.
func TestLookupValues(t *testing.T) {
	down := errors.New("GET http://crm/accounts: 503 Service Unavailable")
	cases := []struct {
		name     string
		resolver *fakeResolver
		typ      connector.FieldType
		fields   map[string]any
		want     any
		reason   string
		detail   string
		asked    []string
	}{
		{"found", &fakeResolver{ids: map[string]string{"cus_1": "acc_1"}}, connector.TypeString,
			map[string]any{"customer_id": "cus_1", "total": "1"}, "acc_1", "", "",
			[]string{accountLookup.URL + " cus_1"}},
		{"int value", &fakeResolver{ids: map[string]string{"42": "acc_42"}}, connector.TypeInt,
			map[string]any{"customer_id": int64(42), "total": "1"}, "acc_42", "", "",
			[]string{accountLookup.URL + " 42"}},
		{"null", &fakeResolver{}, connector.TypeString,
			map[string]any{"customer_id": nil, "total": "1"}, nil, "", "", nil},
		{"not found", &fakeResolver{ids: map[string]string{}}, connector.TypeString,
			map[string]any{"customer_id": "cus_9", "total": "1"}, nil, ReasonLookupNotFound,
			"lookup http://crm/accounts?billing_customer_id=cus_9 found nothing", []string{accountLookup.URL + " cus_9"}},
		{"failed", &fakeResolver{err: down}, connector.TypeString,
			map[string]any{"customer_id": "cus_1", "total": "1"}, nil, ReasonLookupFailed,
			"lookup http://crm/accounts?billing_customer_id=cus_1: GET http://crm/accounts: 503 Service Unavailable", []string{accountLookup.URL + " cus_1"}},
		{"other field fails first", &fakeResolver{}, connector.TypeString,
			map[string]any{"customer_id": "cus_1", "total": "abc"}, nil, ReasonNotDecimal, "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			m := lookupMapping(g, tc.resolver, tc.typ)
			w, err := m.MapContext(t.Context(), record(tc.fields))
			g.Expect(tc.resolver.asked).To(Equal(tc.asked))
			if tc.reason != "" {
				re := recordErr(g, err)
				g.Expect(re.Reason).To(Equal(tc.reason))
				if tc.detail != "" {
					g.Expect(re.Detail).To(Equal(tc.detail))
					g.Expect(re.Field).To(Equal("account_id"))
					g.Expect(re.ID).To(Equal("inv_1"))
				}
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(w.Values).To(HaveKeyWithValue("account_id", equalOrNil(tc.want)))
		})
	}
}

// TestLookupMapWithoutContext: Map resolves lookups too.
func TestLookupMapWithoutContext(t *testing.T) {
	g := NewWithT(t)
	m := lookupMapping(g, &fakeResolver{ids: map[string]string{"cus_1": "acc_1"}}, connector.TypeString)
	w, err := m.Map(record(map[string]any{"customer_id": "cus_1", "total": "1"}))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(w.Values["account_id"]).To(Equal("acc_1"))
}

// TestLookupRefusedAtNew: a lookup without a resolver, of a json value, without {value}, or
// refused by the resolver fails New, naming the entry.
func TestLookupRefusedAtNew(t *testing.T) {
	cases := []struct {
		name     string
		resolver connector.Resolver
		entry    Field
		want     string
	}{
		{"no resolver", nil, Field{To: "account_id", From: "c", Lookup: accountLookup, Type: connector.TypeString}, "mapping[0] (to: account_id): lookup needs a resolver"},
		{"json", &fakeResolver{}, Field{To: "account_id", From: "c", Type: connector.TypeJSON, Lookup: accountLookup}, "must be a scalar"},
		{"no placeholder", &fakeResolver{}, Field{To: "account_id", From: "c", Lookup: &connector.Lookup{URL: "http://crm/accounts"}, Type: connector.TypeString}, "{value}"},
		{"checker refuses", &fakeResolver{checkErr: errors.New("not on the sink's host")}, Field{To: "account_id", From: "c", Lookup: accountLookup, Type: connector.TypeString}, "not on the sink's host"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := New(Spec{SourceName: "billing", Key: Key{Field: "ext_id"}, Resolver: tc.resolver, Fields: []Field{tc.entry}})
			g.Expect(err).To(MatchError(ContainSubstring(tc.want)))
		})
	}
}
