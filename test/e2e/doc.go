// Package e2e holds the end-to-end tests of Checkpointed on a real single-node Kubernetes
// cluster on this machine (hack/cluster): SyncJob → CronJob → Job → runner Pod → PostgreSQL
// → SyncJob status, with the operator and runner images built from this checkout.
//
// TestMain builds the images (hack/cluster/images.sh), brings the cluster up
// (hack/cluster/up.sh, which builds the Kubernetes binaries on a machine's first run) and
// deploys the operator (hack/cluster/deploy.sh); it fails, with the reason, when any of
// that does not work, and skips nothing. It starts one throw-away PostgreSQL server
// (test/pgtest) that listens on loopback for the tests and on the pod bridge's gateway
// address for the runner Pods, which may reach nothing but this machine. At the end it
// stops the server and brings the cluster down, unless E2E_KEEP_CLUSTER=1.
//
// Each test works in its own namespace with its own databases. Run them with
//
//	make test-e2e                      # or: go test -timeout 30m ./test/e2e/...
//	E2E_KEEP_CLUSTER=1 make test-e2e   # leave the cluster up afterwards
//
// They need root (containerd, the kubelet and iptables do).
package e2e
