package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/utils/ptr"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// bodySource serves body on every request and reads it with a source of sourceConfig
// with the given spec's records path, time format, id and time paths and pagination type
// where set.
func bodySource(t *testing.T, spec SourceConfig, body string, header map[string]string) *Source {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	cfg := sourceConfig(srv.URL + "/v1/items")
	cfg.RecordsPath = spec.RecordsPath
	for _, f := range []struct{ to, from *string }{{&cfg.TimeFormat, &spec.TimeFormat}, {&cfg.IDPath, &spec.IDPath},
		{&cfg.UpdatedAtPath, &spec.UpdatedAtPath}, {&cfg.Pagination.Type, &spec.Pagination.Type}} {
		if *f.from != "" {
			*f.to = *f.from
		}
	}
	src, err := NewSource(cfg, newClient(), SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestRecordParsing(t *testing.T) {
	frac := time.Date(2026, 6, 30, 23, 55, 7, 123456789, time.UTC)
	tests := []struct {
		name    string
		spec    SourceConfig
		body    string
		want    []connector.Record
		wantErr string
	}{
		{name: "RFC3339 with full fraction and an offset, integer id",
			body: `{"data":[{"id": 12345678901234567890, "updated_at": "2026-07-01T01:55:07.123456789+02:00", "amount": 12.30}]}`,
			want: []connector.Record{{ID: "12345678901234567890", UpdatedAt: frac,
				Fields: map[string]any{"id": json.Number("12345678901234567890"), "updated_at": "2026-07-01T01:55:07.123456789+02:00", "amount": json.Number("12.30")}}}},
		{name: "unix seconds with a fraction, string id", spec: SourceConfig{TimeFormat: TimeUnixSeconds},
			body: `{"data":[{"id": "inv_1", "updated_at": 1782863707.123456789}]}`,
			want: []connector.Record{{ID: "inv_1", UpdatedAt: frac}}},
		{name: "unix seconds as a string", spec: SourceConfig{TimeFormat: TimeUnixSeconds},
			body: `{"data":[{"id": "inv_1", "updated_at": "1782863707"}]}`,
			want: []connector.Record{{ID: "inv_1", UpdatedAt: frac.Truncate(time.Second)}}},
		{name: "unix millis", spec: SourceConfig{TimeFormat: TimeUnixMillis},
			body: `{"data":[{"id": 7, "updated_at": 1782863707123}]}`,
			want: []connector.Record{{ID: "7", UpdatedAt: frac.Truncate(time.Millisecond)}}},
		{name: "unix millis with a fraction", spec: SourceConfig{TimeFormat: TimeUnixMillis},
			body: `{"data":[{"id": 7, "updated_at": 1782863707123.456789}]}`,
			want: []connector.Record{{ID: "7", UpdatedAt: frac}}},
		{name: "nested paths and the body as the array", spec: SourceConfig{IDPath: "meta.key", UpdatedAtPath: "meta.changed"},
			body: `[{"meta": {"key": "a", "changed": "2026-06-30T23:55:07.123456789Z"}}]`,
			want: []connector.Record{{ID: "a", UpdatedAt: frac}}},
		{name: "null records is empty", body: `{"data": null}`, want: nil},
		{name: "missing records array", body: `{"items": []}`, wantErr: `GET http://127.0.0.1:PORT/v1/items: the answer has no records array at "data"`},
		{name: "records not an array", body: `{"data": {}}`, wantErr: `the answer's "data" is not an array`},
		{name: "record without id", body: `{"data":[{"id": "a", "updated_at": "2026-06-30T23:55:07Z"}, {"updated_at": "2026-06-30T23:55:07Z"}]}`,
			wantErr: "record 1: field id: the id is missing"},
		{name: "record with a boolean id", body: `{"data":[{"id": true, "updated_at": "2026-06-30T23:55:07Z"}]}`,
			wantErr: "record 0: field id: the id: a boolean is not a string or an integer"},
		{name: "record with a fractional id", body: `{"data":[{"id": 1.5, "updated_at": "2026-06-30T23:55:07Z"}]}`,
			wantErr: "record 0: field id: the id: 1.5 is not an integer"},
		{name: "record without time", body: `{"data":[{"id": "a"}]}`,
			wantErr: "record 0 (id a): field updated_at: the update time is missing"},
		{name: "record with a bad time", body: `{"data":[{"id": "a", "updated_at": "2026-06-30T23:55:07Z"}, {"id": "b", "updated_at": "yesterday"}]}`,
			wantErr: `record 1 (id b): field updated_at: the update time: "yesterday" is not an RFC3339 time`},
		{name: "record with a number for RFC3339", body: `{"data":[{"id": "a", "updated_at": 1782863707}]}`,
			wantErr: `record 0 (id a): field updated_at: the update time: a json.Number is not an RFC3339 time`},
		{name: "record with an exponent for unix seconds", spec: SourceConfig{TimeFormat: TimeUnixSeconds},
			body:    `{"data":[{"id": "a", "updated_at": 1.7e9}]}`,
			wantErr: `record 0 (id a): field updated_at: the update time: "1.7e9" is not a unix time in Seconds`},
		{name: "a record that is not an object", body: `{"data":[42]}`,
			wantErr: "record 0: a json.Number is not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			spec := tt.spec
			if spec.RecordsPath == "" && tt.body[0] == '{' {
				spec.RecordsPath = "data"
			}
			src := bodySource(t, spec, tt.body, nil)
			p, err := src.ReadPage(t.Context(), cursor.Beginning, 10)
			if tt.wantErr != "" {
				g.Expect(err).To(HaveOccurred())
				g.Expect(err.Error()).To(ContainSubstring("read page after beginning: "))
				g.Expect(err.Error()).To(ContainSubstring(trimPort(tt.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(p.More).To(BeFalse())
			g.Expect(p.Records).To(HaveLen(len(tt.want)))
			for i, w := range tt.want {
				g.Expect(p.Records[i].ID).To(Equal(w.ID))
				g.Expect(p.Records[i].UpdatedAt).To(Equal(w.UpdatedAt))
				g.Expect(p.Records[i].UpdatedAt.Location()).To(Equal(time.UTC))
				if w.Fields != nil {
					g.Expect(p.Records[i].Fields).To(Equal(w.Fields))
				}
			}
		})
	}
}

// trimPort keeps the part of a wanted message after the test server's address.
func trimPort(s string) string {
	if i := len("GET http://127.0.0.1:PORT"); len(s) > i && s[:i] == "GET http://127.0.0.1:PORT" {
		return s[i:]
	}
	return s
}

func TestCompareIDs(t *testing.T) {
	s := &Source{}
	tests := []struct {
		a, b string
		want int
	}{
		{"9", "10", -1},
		{"10", "9", 1},
		{"-5", "3", -1},
		{"12345678901234567890", "12345678901234567891", -1},
		{"99999999999999999999", "100000000000000000000", -1},
		{"7", "07", 1}, // equal values, different ids: string order
		{"a", "b", -1},
		{"inv_10", "inv_9", -1}, // strings compare as strings
		{"x", "x", 0},
		{"10", "10", 0},
	}
	for _, tt := range tests {
		g := NewWithT(t)
		g.Expect(s.CompareIDs(tt.a, tt.b)).To(Equal(tt.want), "%s vs %s", tt.a, tt.b)
	}
}

func TestNewSourceChecksTheConfig(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*SourceConfig)
		wantErr string
	}{
		{name: "relative url", edit: func(c *SourceConfig) { c.URL = "/v1/items" }, wantErr: "url must be an absolute http or https URL"},
		{name: "ftp url", edit: func(c *SourceConfig) { c.URL = "ftp://x/y" }, wantErr: "url must be an absolute http or https URL"},
		{name: "time format", edit: func(c *SourceConfig) { c.TimeFormat = "ISO" }, wantErr: `timeFormat must be RFC3339, UnixSeconds or UnixMillis, not "ISO"`},
		{name: "no time format", edit: func(c *SourceConfig) { c.TimeFormat = "" }, wantErr: `timeFormat must be RFC3339, UnixSeconds or UnixMillis, not ""`},
		{name: "pagination", edit: func(c *SourceConfig) { c.Pagination.Type = "Pages" }, wantErr: "pagination.type must be"},
		{name: "no pagination", edit: func(c *SourceConfig) { c.Pagination.Type = "" }, wantErr: `pagination.type must be NextToken, LinkHeader, CursorID or Offset, not ""`},
		{name: "cursor id without after id", edit: func(c *SourceConfig) { c.Pagination.Type = PageCursorID }, wantErr: "afterIdParam is required for CursorID pagination"},
		{name: "next token without token path", edit: func(c *SourceConfig) { c.Pagination = Pagination{Type: PageNextToken, TokenParam: "p"} },
			wantErr: "pagination.tokenPath is required for NextToken pagination"},
		{name: "next token without token param", edit: func(c *SourceConfig) { c.Pagination = Pagination{Type: PageNextToken, TokenPath: "next"} },
			wantErr: "pagination.tokenParam is required for NextToken pagination"},
		{name: "offset without token param", edit: func(c *SourceConfig) { c.Pagination = Pagination{Type: PageOffset} },
			wantErr: "pagination.tokenParam is required for Offset pagination"},
		{name: "no id path", edit: func(c *SourceConfig) { c.IDPath = "" }, wantErr: "idPath must be set"},
		{name: "no updated at path", edit: func(c *SourceConfig) { c.UpdatedAtPath = "" }, wantErr: "updatedAtPath must be set"},
		{name: "no sorted", edit: func(c *SourceConfig) { c.Sorted = nil }, wantErr: "sorted must be set"},
		{name: "get by id without {id}", edit: func(c *SourceConfig) { c.GetByIDURL = "http://x/y/1" }, wantErr: `getByIdUrl must be an absolute URL holding "{id}"`},
		{name: "complete", edit: func(*SourceConfig) {}},
		{name: "link header without token fields", edit: func(c *SourceConfig) { c.Pagination = Pagination{Type: PageLinkHeader} }},
		{name: "no optional parameters", edit: func(c *SourceConfig) { c.UpdatedSinceParam, c.PageSizeParam, c.RecordsPath = "", "", "" }},
		{name: "unsorted", edit: func(c *SourceConfig) { c.Sorted = ptr.To(false) }},
	}
	for _, tt := range tests {
		g := NewWithT(t)
		cfg := sourceConfig("http://x/y")
		tt.edit(&cfg)
		src, err := NewSource(cfg, newClient(), SourceOptions{})
		if tt.wantErr != "" {
			g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)), tt.name)
			g.Expect(cfg.Validate()).To(MatchError(err.Error()), tt.name)
			continue
		}
		g.Expect(err).NotTo(HaveOccurred(), tt.name)
		g.Expect(src.Unsorted()).To(Equal(!*cfg.Sorted), tt.name)
		g.Expect(src.Close()).To(Succeed())
	}
	_, err := NewSource(sourceConfig("http://x/y"), nil, SourceOptions{})
	NewWithT(t).Expect(err).To(MatchError(ContainSubstring("no HTTP client")))
}

// TestReadPageNeedsALimit: the page size is the engine's (spec.pageSize); a source given
// none refuses rather than guessing one.
func TestReadPageNeedsALimit(t *testing.T) {
	g := NewWithT(t)
	api := (&fakeAPI{recs: tiedRecords(), format: TimeRFC3339, paging: PageNextToken}).start(t)
	src := api.source(t)
	for _, limit := range []int{0, -1} {
		_, err := src.ReadPage(t.Context(), cursor.Beginning, limit)
		g.Expect(err).To(MatchError(ContainSubstring("the limit must be positive")))
	}
	g.Expect(api.requests()).To(BeEmpty())
}
