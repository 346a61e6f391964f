package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport"
)

// fetchAPI answers GET /v1/items/{id} (the raw path is recorded).
func fetchAPI(t *testing.T, answers map[string]func(w http.ResponseWriter)) (*httptest.Server, *[]string) {
	t.Helper()
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.EscapedPath()+"?"+r.URL.RawQuery)
		id := strings.TrimPrefix(r.URL.Path, "/v1/items/")
		if id == r.URL.Path {
			id = r.URL.Query().Get("id")
		}
		if a, ok := answers[id]; ok {
			a(w)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &paths
}

func body(s string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) { _, _ = w.Write([]byte(s)) }
}

func TestFetchByIDs(t *testing.T) {
	g := NewWithT(t)
	srv, paths := fetchAPI(t, map[string]func(http.ResponseWriter){
		"1":       body(`{"id": 1, "updated_at": "2026-06-30T23:55:00Z", "name": "bare"}`),
		"inv/2 x": body(`{"data": {"id": "inv/2 x", "updated_at": "2026-06-30T23:55:01Z"}}`),
		"3":       body(`{"data": [{"id": 3, "updated_at": "2026-06-30T23:55:02Z"}]}`),
		"4":       body(`{"data": []}`),
		"5":       func(w http.ResponseWriter) { w.WriteHeader(http.StatusGone) },
	})
	spec := sourceConfig(srv.URL + "/v1/items")
	spec.RecordsPath, spec.GetByIDURL = "data", srv.URL+"/v1/items/{id}"
	src, err := NewSource(spec, newClient(), SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	recs, err := src.FetchByIDs(t.Context(), []string{"1", "inv/2 x", "missing", "3", "4", "5"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ids(recs)).To(Equal([]string{"1", "inv/2 x", "3"}))
	g.Expect(recs[0].UpdatedAt).To(Equal(t0))
	g.Expect(recs[0].Fields).To(HaveKeyWithValue("name", "bare"))
	g.Expect((*paths)[1]).To(Equal("/v1/items/inv%2F2%20x?"))

	// {id} in the query is query-escaped
	spec.GetByIDURL = srv.URL + "/v1/lookup?id={id}"
	src, err = NewSource(spec, newClient(), SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	recs, err = src.FetchByIDs(t.Context(), []string{"inv/2 x"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ids(recs)).To(Equal([]string{"inv/2 x"}))
	g.Expect((*paths)[len(*paths)-1]).To(Equal("/v1/lookup?id=inv%2F2+x"))
}

func TestFetchByIDsErrors(t *testing.T) {
	g := NewWithT(t)
	srv, _ := fetchAPI(t, map[string]func(http.ResponseWriter){
		"bad":    body(`{"id": "bad"}`),
		"denied": func(w http.ResponseWriter) { w.WriteHeader(http.StatusForbidden) },
	})
	spec := sourceConfig(srv.URL + "/v1/items")
	spec.RecordsPath, spec.GetByIDURL = "data", srv.URL+"/v1/items/{id}"
	src, err := NewSource(spec, newClient(), SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())

	_, err = src.FetchByIDs(t.Context(), []string{"bad"})
	g.Expect(err).To(MatchError("fetch record bad: field updated_at: the update time is missing"))

	_, err = src.FetchByIDs(t.Context(), []string{"denied"})
	var se *transport.StatusError
	g.Expect(errors.As(err, &se)).To(BeTrue())
	g.Expect(se.Code).To(Equal(http.StatusForbidden))

	spec.GetByIDURL = ""
	src, err = NewSource(spec, newClient(), SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = src.FetchByIDs(t.Context(), []string{"1"})
	g.Expect(err).To(MatchError(ContainSubstring("getByIdUrl is not set")))
}
