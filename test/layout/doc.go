// Package layout holds no code: its test enforces the dependency rules of
// docs/architecture.md on the module's packages, as `go list -deps` reports them.
package layout
