#!/usr/bin/env bash
# Builds the local cluster from source, once per version, into a cache outside the repository:
# the control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler), the node
# (kubelet, kube-proxy, kube-router's network policy controller) and helm. Prints the cache dir.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
K8S_VERSION="$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$here/go.mod")"
HELM_VERSION="${SIGNET_HELM_VERSION:-v4.3.1}"
cache="${SIGNET_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/signet}/k8s-${K8S_VERSION}"
bin="$cache/bin"
mkdir -p "$bin"

log() { printf '[controlplane] %s\n' "$*" >&2; }

# Concurrent callers (parallel test runs, a test run and `npm run cluster`) wait for one build.
exec 9>"$cache/.build.lock"
if ! flock -n 9; then
  log "another build of $K8S_VERSION is running; waiting for it"
  flock 9
fi

major="${K8S_VERSION#v}"; major="${major%%.*}"
minor="${K8S_VERSION#v*.}"; minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean"
done

build() { # name, package
  local name="$1" pkg="$2"
  if [[ -x "$bin/$name" ]]; then
    log "$name: cached in $bin"
    return
  fi
  log "$name: building $pkg (a cold build takes several minutes on 2 cores)"
  local start=$SECONDS
  (cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$bin/$name.tmp" "$pkg")
  mv "$bin/$name.tmp" "$bin/$name"
  log "$name: built in $((SECONDS - start))s"
}

build etcd ./etcd
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler
build kubelet k8s.io/kubernetes/cmd/kubelet
build kube-proxy k8s.io/kubernetes/cmd/kube-proxy

# Tools without replaces, built with go install at their own version; a stamp beside each binary
# records the version it was built from, so a new version is rebuilt.
install_tool() { # name, package, version
  local name="$1" pkg="$2" version="$3"
  if [[ -x "$bin/$name" && "$(cat "$bin/$name.version" 2>/dev/null)" == "$version" ]]; then
    log "$name: cached in $bin"
    return
  fi
  log "$name: building $pkg $version"
  local start=$SECONDS tmp
  tmp="$(mktemp -d "$bin/.$name.XXXXXX")"
  CGO_ENABLED=0 GOBIN="$tmp" go install -trimpath -ldflags "-s -w" "$pkg@$version"
  mv "$tmp/$name" "$bin/$name"
  rmdir "$tmp"
  echo "$version" >"$bin/$name.version"
  log "$name: built in $((SECONDS - start))s"
}

# The node's NetworkPolicy enforcer, a test tool that Signet never ships: kube-router's firewall
# (its router and service proxy stay off). The module proxy serves v2.1.0, for which security flaws
# are reported; acceptable for an enforcer that runs only on a throwaway local node.
install_tool kube-router github.com/cloudnativelabs/kube-router/v2/cmd/kube-router \
  "${SIGNET_KUBE_ROUTER_VERSION:-v2.1.0}"
install_tool helm helm.sh/helm/v4/cmd/helm "$HELM_VERSION"

echo "$bin"
