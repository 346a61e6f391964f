//go:build tools

// Package tools pins the Kubernetes control-plane commands that hack/control-plane.sh
// builds from source. It is a separate module because k8s.io/kubernetes can only be
// required with a replace directive for each of its staging modules.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
