package main

import (
	"testing"

	. "github.com/onsi/gomega"
)

// TestParseWatchNamespaces: --watch-namespace (one) and --watch-namespaces (a list) name
// the namespaces the cache is restricted to; none means all namespaces.
func TestParseWatchNamespaces(t *testing.T) {
	for _, tc := range []struct {
		name, single, list string
		want               []string
		err                string
	}{
		{name: "neither: all namespaces"},
		{name: "one", single: "billing", want: []string{"billing"}},
		{name: "list", list: "billing,crm", want: []string{"billing", "crm"}},
		{name: "list with spaces", list: " billing , crm ", want: []string{"billing", "crm"}},
		{name: "list of one", list: "billing", want: []string{"billing"}},
		{name: "both flags", single: "billing", list: "crm", err: "exclusive"},
		{name: "empty entry", list: "billing,,crm", err: "empty namespace name"},
		{name: "trailing comma", list: "billing,", err: "empty namespace name"},
		{name: "repeated", list: "billing,crm,billing", err: `"billing" given twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := parseWatchNamespaces(tc.single, tc.list)
			if tc.err != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.err)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tc.want))
		})
	}
}
