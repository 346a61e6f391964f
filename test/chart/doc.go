// Package chart holds no code: its tests lint and render the Helm chart charts/checkpointed
// with the Helm SDK (golden files in testdata/) and check that the permissions it grants
// the manager are exactly the ones controller-gen generates into config/rbac.
package chart
