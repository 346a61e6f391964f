// Package imagepolicy decides which runner images a SyncJob may ask for: the manager's
// --allowed-runner-images allow-list. It is a pure policy with no Kubernetes dependency.
package imagepolicy

import (
	"fmt"
	"strings"
)

// Policy is an allow-list of runner images. Each entry is one of:
//   - a prefix ending in "/" or "*" ("registry.example.com/team/", "ghcr.io/acme/runner*"):
//     any image starting with it (without the "*");
//   - a repository without tag or digest ("ghcr.io/acme/runner"): that repository at any
//     tag or digest;
//   - an exact reference with tag or digest ("ghcr.io/acme/runner:v1.2",
//     "ghcr.io/acme/runner@sha256:..."): that image only.
//
// An empty Policy allows nothing.
type Policy struct {
	entries []string
}

// Parse reads a comma-separated allow-list; blank entries are ignored and an entry that is
// only "*" or "/" (which would allow every image) is refused.
func Parse(list string) (Policy, error) {
	var p Policy
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if e == "*" || e == "/" {
			return Policy{}, fmt.Errorf("allowed runner image %q would allow every image; name a registry or repository prefix", e)
		}
		if strings.ContainsAny(e, " \t") {
			return Policy{}, fmt.Errorf("allowed runner image %q contains whitespace", e)
		}
		p.entries = append(p.entries, e)
	}
	return p, nil
}

// Allows reports whether image may run as a runner.
func (p Policy) Allows(image string) bool {
	if image == "" {
		return false
	}
	for _, e := range p.entries {
		switch {
		case strings.HasSuffix(e, "*"):
			if strings.HasPrefix(image, strings.TrimSuffix(e, "*")) {
				return true
			}
		case strings.HasSuffix(e, "/"):
			if strings.HasPrefix(image, e) {
				return true
			}
		case image == e:
			return true
		case !hasTagOrDigest(e) && (strings.HasPrefix(image, e+":") || strings.HasPrefix(image, e+"@")):
			return true
		}
	}
	return false
}

// String is the allow-list as given to Parse (normalised).
func (p Policy) String() string { return strings.Join(p.entries, ",") }

// Empty reports whether the policy has no entry.
func (p Policy) Empty() bool { return len(p.entries) == 0 }

// hasTagOrDigest reports whether a reference names a tag or digest: an "@", or a ":" after
// the last "/" (a ":" before it is a registry port).
func hasTagOrDigest(ref string) bool {
	if strings.Contains(ref, "@") {
		return true
	}
	return strings.Contains(ref[strings.LastIndex(ref, "/")+1:], ":")
}
