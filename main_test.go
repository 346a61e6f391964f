package main

import (
	"os"
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

// TestSoftMemoryLimit: the manager's Go soft memory limit is 90 % of its container's
// memory limit (cgroup v2, else v1), so that the garbage collector works harder before the
// limit rather than the kernel killing the manager at it; none without a limit, with an
// unreadable one, or when GOMEMLIMIT is set (the operator's choice wins).
func TestSoftMemoryLimit(t *testing.T) {
	files := func(m map[string]string) func(string) ([]byte, error) {
		return func(path string) ([]byte, error) {
			if v, ok := m[path]; ok {
				return []byte(v), nil
			}
			return nil, os.ErrNotExist
		}
	}
	for _, tc := range []struct {
		name  string
		files map[string]string
		gomem string
		want  int64
	}{
		{"cgroup v2 limit", map[string]string{cgroupV2MemoryMax: "1073741824\n"}, "", 966367641},
		{"cgroup v2 without a limit", map[string]string{cgroupV2MemoryMax: "max\n"}, "", 0},
		{"cgroup v1 limit", map[string]string{cgroupV1MemoryLimit: "536870912\n"}, "", 483183820},
		{"cgroup v1 without a limit", map[string]string{cgroupV1MemoryLimit: "9223372036854771712\n"}, "", 0},
		{"no cgroup files", nil, "", 0},
		{"unreadable value", map[string]string{cgroupV2MemoryMax: "lots\n"}, "", 0},
		{"GOMEMLIMIT set", map[string]string{cgroupV2MemoryMax: "1073741824\n"}, "800MiB", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := softMemoryLimit(files(tc.files), tc.gomem); got != tc.want {
				t.Errorf("softMemoryLimit = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestGCPercent: the manager collects at 50 % heap growth unless GOGC is set (the
// operator's choice wins, "off" and "100" included).
func TestGCPercent(t *testing.T) {
	for _, tc := range []struct {
		gogc string
		want int
	}{
		{"", 50},
		{"100", 0},
		{"off", 0},
		{"25", 0},
	} {
		if got := gcPercent(tc.gogc); got != tc.want {
			t.Errorf("gcPercent(%q) = %d, want %d", tc.gogc, got, tc.want)
		}
	}
}
