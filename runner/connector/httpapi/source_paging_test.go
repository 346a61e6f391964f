package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport/transporttest"
)

func TestNextLink(t *testing.T) {
	tests := []struct {
		links []string
		want  string
	}{
		{[]string{`<https://api.example.com/items?page=2>; rel="next"`}, "https://api.example.com/items?page=2"},
		{[]string{`<https://a/x?p=1>; rel="prev", <https://a/x?p=3,4>; rel="next"; title="n"`}, "https://a/x?p=3,4"},
		{[]string{`<https://a/x?p=9>; rel="last"`, `</x?p=3>; REL=next`}, "/x?p=3"},
		{[]string{`<https://a/x?p=3>; rel="next last"`}, "https://a/x?p=3"},
		{[]string{`<https://a/x?p=1>; rel="first"`}, ""},
		{nil, ""},
	}
	for _, tt := range tests {
		g := NewWithT(t)
		h := http.Header{}
		for _, l := range tt.links {
			h.Add("Link", l)
		}
		g.Expect(nextLink(h)).To(Equal(tt.want), "%q", tt.links)
	}
}

// pagedSource serves the scripted bodies/headers in order (the last repeats).
func pagedSource(t *testing.T, paging string, pages ...func(w http.ResponseWriter, r *http.Request)) (*Source, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		pages[min(i, len(pages)-1)](w, r)
	}))
	t.Cleanup(srv.Close)
	spec := sourceConfig(srv.URL + "/v1/items")
	spec.RecordsPath, spec.AfterIDParam, spec.UpdatedSinceParam = "data", "after_id", "updated_since"
	spec.Pagination = Pagination{Type: paging, TokenPath: "meta.next", TokenParam: "cursor"}
	src, err := NewSource(spec, newClient(), SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return src, &n
}

func page(ids []string, extra string, header ...string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Add(header[i], header[i+1])
		}
		recs := make([]string, len(ids))
		for i, id := range ids {
			recs[i] = fmt.Sprintf(`{"id": %q, "updated_at": "2026-06-30T23:55:0%dZ"}`, id, i)
		}
		fmt.Fprintf(w, `{"data": [%s]%s}`, strings.Join(recs, ","), extra)
	}
}

func TestPagingGuards(t *testing.T) {
	tests := []struct {
		name    string
		paging  string
		pages   []func(http.ResponseWriter, *http.Request)
		wantIDs []string
		wantErr string
	}{
		{name: "numeric token", paging: PageNextToken,
			pages:   []func(http.ResponseWriter, *http.Request){page([]string{"a"}, `,"meta":{"next":2}`), page([]string{"b"}, `,"meta":{"next":null}`)},
			wantIDs: []string{"a", "b"}},
		{name: "token that is a relative URL", paging: PageNextToken,
			pages: []func(http.ResponseWriter, *http.Request){page([]string{"a"}, `,"meta":{"next":"/v1/items?cursor=zz"}`), func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("cursor") != "zz" {
					w.WriteHeader(400)
					return
				}
				page([]string{"b"}, "")(w, r)
			}},
			wantIDs: []string{"a", "b"}},
		{name: "the same token twice", paging: PageNextToken,
			pages:   []func(http.ResponseWriter, *http.Request){page([]string{"a"}, `,"meta":{"next":"t1"}`), page([]string{"b"}, `,"meta":{"next":"t1"}`)},
			wantErr: "the API returned the page token of the previous page again"},
		{name: "a token that is an object", paging: PageNextToken,
			pages:   []func(http.ResponseWriter, *http.Request){page([]string{"a"}, `,"meta":{"next":{"x":1}}`)},
			wantErr: `the page token at "meta.next" is not a string or a number`},
		{name: "a token URL on another host", paging: PageNextToken,
			pages:   []func(http.ResponseWriter, *http.Request){page([]string{"a"}, `,"meta":{"next":"https://evil.example.com/steal"}`)},
			wantErr: "the API's next page is on https://evil.example.com, not on http://127.0.0.1"},
		{name: "a link to another host", paging: PageLinkHeader,
			pages:   []func(http.ResponseWriter, *http.Request){page([]string{"a"}, "", "Link", `<http://localhost:1/v1/items?p=2>; rel="next"`)},
			wantErr: "the API's next page is on http://localhost:1, not on http://127.0.0.1"},
		{name: "a link to the same page", paging: PageLinkHeader,
			pages:   []func(http.ResponseWriter, *http.Request){page([]string{"a"}, "", "Link", `</v1/items?p=2>; rel="next"`)},
			wantErr: "the API's next link points to the same page"},
		{name: "a cursor id page that does not move", paging: PageCursorID,
			pages:   []func(http.ResponseWriter, *http.Request){page([]string{"a"}, "")},
			wantErr: "the API did not move past record a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			src, _ := pagedSource(t, tt.paging, tt.pages...)
			got, err := readSorted(t, src, cursor.Beginning, 1)
			if tt.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
				g.Expect(err.Error()).To(HavePrefix("read page after "))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(ids(got)).To(Equal(tt.wantIDs))
		})
	}
}

// TestReadErrorsKeepTheirKind: a 429 budget spent reaches the engine as ErrRateLimited, a
// 5xx as a StatusError, and the credential is in neither.
func TestReadErrorsKeepTheirKind(t *testing.T) {
	const token = "tok-very-secret-42"
	for _, code := range []int{429, 503, 401} {
		g := NewWithT(t)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			fmt.Fprintf(w, `{"message":"no (you sent %s)"}`, r.Header.Get("Authorization"))
		}))
		client := mustClient(transport.Options{Auth: transport.BearerAuth(token), Retry: retryPolicy(2),
			Clock: transporttest.NewClock(t0)})
		spec := sourceConfig(srv.URL + "/v1/items?api_key=k")
		spec.RecordsPath = "data"
		src, err := NewSource(spec, client, SourceOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		_, err = src.ReadPage(t.Context(), cursor.Cursor{UpdatedAt: t0, ID: "5"}, 10)
		srv.Close()
		g.Expect(err).To(HaveOccurred())
		g.Expect(err.Error()).To(HavePrefix("read page after 2026-06-30T23:55:00Z/5: GET " + srv.URL + "/v1/items: "))
		g.Expect(err.Error()).NotTo(ContainSubstring(token))
		g.Expect(errors.Is(err, connector.ErrRateLimited)).To(Equal(code == 429))
		var se *transport.StatusError
		g.Expect(errors.As(err, &se)).To(BeTrue())
		g.Expect(se.Code).To(Equal(code))
	}
}

// TestInclusiveAfterIDDoesNotDuplicate: a CursorID API that returns the last record of the
// previous page again (an inclusive after-id) does not make the source repeat it.
func TestInclusiveAfterIDDoesNotDuplicate(t *testing.T) {
	g := NewWithT(t)
	src, _ := pagedSource(t, PageCursorID,
		page([]string{"a", "b"}, ""),
		func(w http.ResponseWriter, r *http.Request) {
			g.Expect(r.URL.Query().Get("after_id")).To(Equal("b"))
			g.Expect(r.URL.Query().Get("updated_since")).To(Equal("2026-06-30T23:55:01Z"))
			fmt.Fprint(w, `{"data": [{"id": "b", "updated_at": "2026-06-30T23:55:01Z"}, {"id": "c", "updated_at": "2026-06-30T23:55:02Z"}]}`)
		},
		page(nil, ""))
	got, err := readSorted(t, src, cursor.Beginning, 10)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ids(got)).To(Equal([]string{"a", "b", "c"}))
}
