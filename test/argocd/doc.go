// Package argocd tests the Argo CD integration: the SyncJob health check in Argo CD's
// upstream layout (resource_customizations/sync.checkpointed.io/SyncJob), run the way Argo
// CD runs it and compared with kstatus, and its copies in the Helm chart and the README.
// It holds no code of its own.
package argocd
