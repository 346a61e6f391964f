// Command etcd is etcd's server built from the Go module proxy at the version
// Kubernetes pins, so that envtest and the local cluster need no release download.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
