package imagepolicy

import (
	"testing"

	. "github.com/onsi/gomega"
)

// TestAllows: prefixes, repositories at any tag or digest, exact references, and nothing
// else.
func TestAllows(t *testing.T) {
	const list = "checkpointed/runner:dev, registry.example.com/team/, ghcr.io/acme/runner*, localhost:5000/runner, quay.io/x/r@sha256:abc"
	p, err := Parse(list)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		image string
		want  bool
	}{
		{"checkpointed/runner:dev", true},
		{"checkpointed/runner:v2", false},
		{"checkpointed/runner", false},
		{"registry.example.com/team/runner:v1", true},
		{"registry.example.com/teamx/runner:v1", false},
		{"registry.example.com/other/runner:v1", false},
		{"ghcr.io/acme/runner:v1", true},
		{"ghcr.io/acme/runner-fork:v1", true},
		{"ghcr.io/acme2/runner:v1", false},
		{"localhost:5000/runner:v1", true},
		{"localhost:5000/runner@sha256:def", true},
		{"localhost:5000/runnerx:v1", false},
		{"localhost:5000/runner", true},
		{"quay.io/x/r@sha256:abc", true},
		{"quay.io/x/r@sha256:abd", false},
		{"quay.io/x/r:latest", false},
		{"", false},
		{"evil.example.org/checkpointed/runner:dev", false},
	} {
		t.Run(tc.image, func(t *testing.T) {
			NewWithT(t).Expect(p.Allows(tc.image)).To(Equal(tc.want))
		})
	}
}

// TestParse: blank entries are skipped, allow-everything entries are refused, and an empty
// list allows nothing.
func TestParse(t *testing.T) {
	g := NewWithT(t)
	p, err := Parse(" a/b , ,c/ ")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(p.String()).To(Equal("a/b,c/"))
	for _, bad := range []string{"*", "a/b,/", "a b"} {
		_, err := Parse(bad)
		g.Expect(err).To(HaveOccurred(), bad)
	}
	empty, err := Parse("")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(empty.Empty()).To(BeTrue())
	g.Expect(empty.Allows("checkpointed/runner:dev")).To(BeFalse())
}
