package httpapi

import (
	"testing"

	. "github.com/onsi/gomega"
)

// TestURLTemplatesStayOnTheHost: every URL the spec names besides the base URL (the
// source's getByIdUrl, the sink's searchUrl, updateUrl and countUrl) must be on the base
// URL's scheme and host, as next-page links and lookups already must: those requests
// carry the connector's credentials. The config is refused before any request, naming the
// field.
func TestURLTemplatesStayOnTheHost(t *testing.T) {
	sink := func(edit func(*SinkConfig)) SinkConfig {
		c := SinkConfig{Mode: ModeLookupThenWrite, URL: "https://crm.example.com/v1/objects",
			SearchURL: "https://crm.example.com/v1/objects?key={key}", UpdateURL: "https://crm.example.com/v1/objects/{id}",
			KeyField: "k", SourceUpdatedAtField: "s", DeleteMode: DeleteIgnore}
		edit(&c)
		return c
	}
	for _, tc := range []struct {
		name    string
		err     func() error
		wantErr string
	}{
		{"sink on its host", func() error { return sink(func(*SinkConfig) {}).Validate() }, ""},
		{"sink countUrl on its host", func() error {
			return sink(func(c *SinkConfig) { c.CountURL = "https://crm.example.com/v1/count?from={from}&to={to}" }).Validate()
		}, ""},
		{"searchUrl elsewhere", func() error {
			return sink(func(c *SinkConfig) { c.SearchURL = "https://evil.example.org/v1/objects?key={key}" }).Validate()
		}, "searchUrl must be on https://crm.example.com"},
		{"updateUrl elsewhere", func() error {
			return sink(func(c *SinkConfig) { c.UpdateURL = "https://crm.example.com.evil.org/v1/objects/{id}" }).Validate()
		}, "updateUrl must be on https://crm.example.com"},
		{"updateUrl other scheme", func() error {
			return sink(func(c *SinkConfig) { c.UpdateURL = "http://crm.example.com/v1/objects/{id}" }).Validate()
		}, "updateUrl must be on https://crm.example.com"},
		{"countUrl elsewhere", func() error {
			return sink(func(c *SinkConfig) { c.CountURL = "https://evil.example.org/count?from={from}&to={to}" }).Validate()
		}, "countUrl must be on https://crm.example.com"},
		{"countUrl elsewhere in Upsert mode", func() error {
			return sink(func(c *SinkConfig) {
				c.Mode, c.Method, c.URL = ModeUpsert, "PUT", "https://crm.example.com/v1/objects/{key}"
				c.CountURL = "https://evil.example.org/count?from={from}&to={to}"
			}).Validate()
		}, "countUrl must be on https://crm.example.com"},
		{"source getByIdUrl on its host", func() error {
			c := sourceConfig("http://billing.example.com/v1/invoices")
			c.GetByIDURL = "http://billing.example.com/v1/invoices/{id}"
			return c.Validate()
		}, ""},
		{"source getByIdUrl elsewhere", func() error {
			c := sourceConfig("http://billing.example.com/v1/invoices")
			c.GetByIDURL = "http://evil.example.org/v1/invoices/{id}"
			return c.Validate()
		}, "getByIdUrl must be on http://billing.example.com"},
		{"source getByIdUrl other port", func() error {
			c := sourceConfig("http://billing.example.com/v1/invoices")
			c.GetByIDURL = "http://billing.example.com:8443/v1/invoices/{id}"
			return c.Validate()
		}, "getByIdUrl must be on http://billing.example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			err := tc.err()
			if tc.wantErr == "" {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
		})
	}
}
