//go:build tools

// Package tools pins the Kubernetes commands built for the local cluster into this module's graph:
// the control plane (kube-apiserver, kube-controller-manager, kube-scheduler) and the node (kubelet,
// kube-proxy), all from one version of k8s.io/kubernetes.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
