#!/usr/bin/env bash
# Builds what the local cluster needs, once (later runs reuse the caches):
#   1. the node's Debian packages, when missing: containerd, runc, the CNI plugins, buildah,
#      busybox (the sandbox image), iptables, ipset and conntrack (kube-proxy, kube-router),
#      chromium (the browser test of signet audit's HTML page);
#   2. the Kubernetes components and helm from their Go modules (e2e/controlplane/build.sh), and
#      promtool, which the chart's alerting rules are checked with (e2e/tools/promtool/build.sh);
#   3. the images, with buildah (scripts/image/build.sh).
# Without root or apt it says which packages are missing; the bare control plane needs none of them.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf '[setup] %s\n' "$*" >&2; }

# command -> Debian package
declare -A PACKAGES=(
  [containerd]=containerd [runc]=runc [buildah]=buildah [iptables]=iptables [ipset]=ipset
  [conntrack]=conntrack [unshare]=util-linux [nsenter]=util-linux [ip]=iproute2
  [chromium]=chromium
)
missing=()
for cmd in "${!PACKAGES[@]}"; do
  command -v "$cmd" >/dev/null || missing+=("${PACKAGES[$cmd]}")
done
[[ -x /usr/lib/cni/bridge ]] || missing+=(containernetworking-plugins)
[[ -x /bin/busybox ]] || missing+=(busybox-static)
if ((${#missing[@]} > 0)); then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    log "the node needs these Debian packages: ${missing[*]} (as root: apt-get install ${missing[*]})"
    exit 1
  fi
else
  log "the node's packages are installed"
fi

bash "$here/../e2e/controlplane/build.sh" >/dev/null
bash "$here/../e2e/tools/promtool/build.sh" >/dev/null
bash "$here/image/build.sh" >/dev/null
log "done: npm run cluster -- up starts the cluster, npm run demo runs the demo, npm test the tests"
