package main

import (
	"testing"

	. "github.com/onsi/gomega"
)

// TestDigestRef: a tag (or an older digest) is replaced by the digest; a registry port is
// not mistaken for a tag.
func TestDigestRef(t *testing.T) {
	const d = "sha256:0123abcd"
	for ref, want := range map[string]string{
		"docker.io/checkpointed/runner:dev":     "docker.io/checkpointed/runner@" + d,
		"docker.io/checkpointed/runner":         "docker.io/checkpointed/runner@" + d,
		"localhost:5000/checkpointed/runner:v1": "localhost:5000/checkpointed/runner@" + d,
		"localhost:5000/runner":                 "localhost:5000/runner@" + d,
		"ghcr.io/x/runner:v1@sha256:ffff":       "ghcr.io/x/runner@" + d,
	} {
		NewWithT(t).Expect(DigestRef(ref, d)).To(Equal(want), ref)
	}
}
