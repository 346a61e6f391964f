package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport"
)

// TestSinkRerunsConverge: each mode run three times over the same records (one key twice,
// older first) leaves the same objects, one per key; reruns report Unchanged, and the
// older version of the repeated key Stale.
func TestSinkRerunsConverge(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			g := NewWithT(t)
			crm := newFakeCRM(t)
			sink := crm.sink(t, mode, nil)
			batch := []connector.WriteRecord{wrec("a", 1, "12.30"), wrec("b", 1, "7"), wrec("c", 1, "1.00"), wrec("c", 2, "2.00"), wrec("d", 3, "0.10")}
			var first []string
			for run := range 3 {
				res, err := sink.Upsert(t.Context(), batch)
				g.Expect(err).NotTo(HaveOccurred())
				if run == 0 {
					g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Written, connector.Written, connector.Written, connector.Written, connector.Written}))
					first = crm.state()
				} else {
					g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Unchanged, connector.Unchanged, connector.Stale, connector.Unchanged, connector.Unchanged}))
					g.Expect(res[2].Err).To(MatchError(ContainSubstring("stale write refused")))
				}
				g.Expect(crm.state()).To(Equal(first), "run %d", run+1)
				g.Expect(crm.keys()).To(Equal([]string{"billing:a", "billing:b", "billing:c", "billing:d"}))
			}
			g.Expect(first).To(ContainElement(`billing:a {"source_updated_at":"2026-06-30T23:56:00Z","status":"open","total":12.30}`))
			g.Expect(first).To(ContainElement(`billing:c {"source_updated_at":"2026-06-30T23:57:00Z","status":"open","total":2.00}`))
		})
	}
}

// TestSinkRecordOutcomes: a record the API refuses fails alone with the API's message; a
// record carrying an older source version is Stale; the others land.
func TestSinkRecordOutcomes(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			g := NewWithT(t)
			crm := newFakeCRM(t)
			sink := crm.sink(t, mode, nil)
			_, err := sink.Upsert(t.Context(), []connector.WriteRecord{wrec("c", 10, "5")})
			g.Expect(err).NotTo(HaveOccurred())
			crm.reject["billing:b"] = "total must be a number"

			res, err := sink.Upsert(t.Context(), []connector.WriteRecord{wrec("a", 1, "1"), wrec("b", 1, "2"), wrec("c", 5, "3"), wrec("d", 1, "4")})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Written, connector.Failed, connector.Stale, connector.Written}))

			var re *connector.RecordError
			g.Expect(errors.As(res[1].Err, &re)).To(BeTrue())
			g.Expect(re.ID).To(Equal("b"))
			g.Expect(re.Reason).To(Equal("rejected by the API (400)"))
			g.Expect(re.Detail).To(ContainSubstring("total must be a number"))
			wantField := "invoice_key"
			if mode == ModeBatch {
				wantField = "total" // the batch error names it
			}
			g.Expect(re.Field).To(Equal(wantField))

			g.Expect(errors.As(res[2].Err, &re)).To(BeTrue())
			g.Expect(re.Reason).To(Equal("stale write refused by the API (409)"))
			g.Expect(re.Detail).To(ContainSubstring("stale write refused"))
			g.Expect(crm.keys()).To(Equal([]string{"billing:a", "billing:c", "billing:d"}))
		})
	}
}

// TestSinkUnconfirmedBatch: a 429 or 5xx after the client's retries, or a 401, fails the
// whole Upsert with no results: nothing is reported written.
func TestSinkUnconfirmedBatch(t *testing.T) {
	cases := []struct {
		name   string
		status int
		check  func(g Gomega, err error)
	}{
		{"rate limited", http.StatusTooManyRequests, func(g Gomega, err error) {
			g.Expect(errors.Is(err, connector.ErrRateLimited)).To(BeTrue())
		}},
		{"server error", http.StatusServiceUnavailable, func(g Gomega, err error) {
			var se *transport.StatusError
			g.Expect(errors.As(err, &se)).To(BeTrue())
			g.Expect(se.Code).To(Equal(http.StatusServiceUnavailable))
		}},
		{"unauthorized", http.StatusUnauthorized, func(g Gomega, err error) {
			g.Expect(err).To(MatchError(ContainSubstring("401")))
		}},
	}
	for _, mode := range modes {
		for _, tc := range cases {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				g := NewWithT(t)
				crm := newFakeCRM(t)
				sink := crm.sink(t, mode, nil)
				crm.addFault("", tc.status, 1000)
				res, err := sink.Upsert(t.Context(), []connector.WriteRecord{wrec("a", 1, "1"), wrec("b", 1, "2")})
				g.Expect(err).To(HaveOccurred())
				g.Expect(res).To(BeNil())
				tc.check(g, err)
				g.Expect(crm.keys()).To(BeEmpty())
			})
		}
	}
}

// TestSinkRetriesServerErrors: 5xx answers within the retry budget are retried and the
// records land once.
func TestSinkRetriesServerErrors(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			g := NewWithT(t)
			crm := newFakeCRM(t)
			sink := crm.sink(t, mode, nil)
			crm.addFault("", http.StatusBadGateway, 2)
			res, err := sink.Upsert(t.Context(), []connector.WriteRecord{wrec("a", 1, "1"), wrec("b", 1, "2")})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Written, connector.Written}))
			g.Expect(crm.keys()).To(Equal([]string{"billing:a", "billing:b"}))
		})
	}
}

// TestSinkRedactsCredentials: an API message echoing the bearer token, and a refused
// token, never put it in a result or an error.
func TestSinkRedactsCredentials(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			g := NewWithT(t)
			crm := newFakeCRM(t)
			sink := crm.sink(t, mode, nil)
			crm.reject["billing:a"] = "token " + testToken + " may not write this"
			res, err := sink.Upsert(t.Context(), []connector.WriteRecord{wrec("a", 1, "1")})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res[0].Outcome).To(Equal(connector.Failed))
			g.Expect(res[0].Err.Error()).To(ContainSubstring("[redacted]"))
			g.Expect(res[0].Err.Error()).NotTo(ContainSubstring(testToken))

			other := mustClient(transport.Options{Auth: transport.BearerAuth("tok-wrong-zzz"), Retry: retryPolicy(6)})
			bad, err := NewSink(crm.spec(mode), other, SinkOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			_, err = bad.Upsert(t.Context(), []connector.WriteRecord{wrec("a", 1, "1")})
			g.Expect(err).To(MatchError(ContainSubstring("401")))
			g.Expect(err.Error()).NotTo(ContainSubstring("tok-wrong-zzz"))
		})
	}
}

// TestSinkDuplicateKeysOnServer: a key held by several objects fails the record without
// writing (Upsert: the API's 300; LookupThenWrite: the search finds two).
func TestSinkDuplicateKeysOnServer(t *testing.T) {
	for _, mode := range []string{ModeUpsert, ModeLookupThenWrite} {
		t.Run(mode, func(t *testing.T) {
			g := NewWithT(t)
			crm := newFakeCRM(t)
			crm.seed("billing:a", map[string]any{"total": "old"})
			crm.seed("billing:a", map[string]any{"total": "older"})
			sink := crm.sink(t, mode, nil)
			before := crm.state()
			res, err := sink.Upsert(t.Context(), []connector.WriteRecord{wrec("a", 1, "1"), wrec("b", 1, "2")})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Failed, connector.Written}))
			var re *connector.RecordError
			g.Expect(errors.As(res[0].Err, &re)).To(BeTrue())
			g.Expect(re.Reason).To(Equal(ReasonDuplicates))
			g.Expect(crm.state()).To(ContainElements(before))
			g.Expect(crm.keys()).To(Equal([]string{"billing:a", "billing:a", "billing:b"}))
		})
	}
}

// TestNewSinkRefuses: configs that cannot work fail at construction, naming the field.
func TestNewSinkRefuses(t *testing.T) {
	crm := newFakeCRM(t)
	type edit = func(s *SinkConfig)
	cases := []struct {
		name string
		mode string
		edit edit
		want string
	}{
		{"unknown mode", "Merge", nil, `mode must be Upsert, Batch or LookupThenWrite, not "Merge"`},
		{"upsert without key", ModeUpsert, func(s *SinkConfig) { s.URL = crm.srv.URL + "/x" }, "url must be an absolute http or https URL holding \"{key}\""},
		{"bad method", ModeUpsert, func(s *SinkConfig) { s.Method = "POST" }, `method must be PUT or PATCH, not "POST"`},
		{"no method", ModeUpsert, func(s *SinkConfig) { s.Method = "" }, `method must be PUT or PATCH, not ""`},
		{"relative URL", ModeBatch, func(s *SinkConfig) { s.URL = "/invoices/batch" }, "url must be an absolute http or https URL"},
		{"no batch size", ModeBatch, func(s *SinkConfig) { s.BatchSize = 0 }, "batchSize must be at least 1, not 0"},
		{"search without key", ModeLookupThenWrite, func(s *SinkConfig) { s.SearchURL = crm.srv.URL + "/s" }, "searchUrl must be an absolute http or https URL holding"},
		{"update without id", ModeLookupThenWrite, func(s *SinkConfig) { s.UpdateURL = crm.srv.URL + "/u" }, "updateUrl must be an absolute http or https URL holding"},
		{"batch delete", ModeBatch, func(s *SinkConfig) { s.DeleteMode = DeleteHard }, "deleteMode Delete needs a per-key URL"},
		{"unknown delete mode", ModeUpsert, func(s *SinkConfig) { s.DeleteMode = "Purge" }, `deleteMode must be Ignore, SoftDelete or Delete, not "Purge"`},
		{"no delete mode", ModeUpsert, func(s *SinkConfig) { s.DeleteMode = "" }, `deleteMode must be Ignore, SoftDelete or Delete, not ""`},
		{"soft delete without field", ModeUpsert, func(s *SinkConfig) { s.DeleteMode, s.DeleteField = DeleteSoft, "" }, "deleteField is required for SoftDelete"},
		{"no key field", ModeUpsert, func(s *SinkConfig) { s.KeyField = "" }, "keyField must be set"},
		{"no source updated at field", ModeBatch, func(s *SinkConfig) { s.SourceUpdatedAtField = "" }, "sourceUpdatedAtField must be set"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			cfg := crm.spec(tc.mode)
			cfg.Mode = tc.mode
			if tc.edit != nil {
				tc.edit(&cfg)
			}
			_, err := NewSink(cfg, sinkClient(), SinkOptions{})
			g.Expect(err).To(MatchError(ContainSubstring(tc.want)))
			g.Expect(cfg.Validate()).To(MatchError(err.Error()))
		})
	}
	_, err := NewSink(crm.spec(ModeUpsert), nil, SinkOptions{})
	NewWithT(t).Expect(err).To(MatchError(ContainSubstring("no HTTP client")))
	// fields a mode does not use need not be set
	for _, mode := range modes {
		cfg := crm.spec(mode)
		switch mode {
		case ModeUpsert:
			cfg.BatchSize, cfg.SearchURL, cfg.UpdateURL = 0, "", ""
		case ModeBatch:
			cfg.Method = ""
		case ModeLookupThenWrite:
			cfg.Method, cfg.BatchSize = "", 0
		}
		cfg.DeleteField = ""
		_, err := NewSink(cfg, sinkClient(), SinkOptions{})
		NewWithT(t).Expect(err).NotTo(HaveOccurred(), mode)
	}
}

// TestSinkEscapesKeys: a key with a slash, a space and a question mark stays one path
// segment or one query value.
func TestSinkEscapesKeys(t *testing.T) {
	for _, mode := range []string{ModeUpsert, ModeLookupThenWrite} {
		t.Run(mode, func(t *testing.T) {
			g := NewWithT(t)
			crm := newFakeCRM(t)
			sink := crm.sink(t, mode, nil)
			rec := wrec("x", 1, "1")
			rec.Key = "billing:a/b c?d&e=f"
			for range 2 {
				res, err := sink.Upsert(t.Context(), []connector.WriteRecord{rec})
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(res[0].Outcome).To(BeElementOf(connector.Written, connector.Unchanged))
			}
			g.Expect(crm.keys()).To(Equal([]string{rec.Key}))
			g.Expect(strings.Join(crm.state(), "")).To(ContainSubstring(`"total":1`))
		})
	}
}
