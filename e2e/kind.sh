#!/usr/bin/env bash
# Runs Signet on a kind cluster, then the end-to-end suite against that cluster.
# Needs docker, kind, kubectl and helm on PATH (Go too, for the e2e tests that build their tools).
#
#   bash e2e/kind.sh            # create (or reuse) the cluster, build, load, install, test
#   KEEP_CLUSTER=1 bash e2e/kind.sh
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cluster="${KIND_CLUSTER:-signet-e2e}"
image="${SIGNET_IMAGE:-signet:e2e}"
release_ns="signet-system"
smoke_ns="signet-smoke"
kubeconfig="$(mktemp -d)/kubeconfig"

log() { printf '[kind] %s\n' "$*" >&2; }

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || { log "$tool is not on PATH"; exit 1; }
done

if kind get clusters | grep -qx "$cluster"; then
  log "reusing cluster $cluster"
else
  log "creating cluster $cluster"
  kind create cluster --name "$cluster" --wait 120s
fi
kind get kubeconfig --name "$cluster" >"$kubeconfig"
export KUBECONFIG="$kubeconfig"

cleanup() {
  if [[ -z "${KEEP_CLUSTER:-}" ]]; then
    log "deleting cluster $cluster (KEEP_CLUSTER=1 keeps it)"
    kind delete cluster --name "$cluster"
  fi
}
trap cleanup EXIT

log "building $image"
docker build -t "$image" "$repo"
kind load docker-image "$image" --name "$cluster"

# The installed operator manages only the smoke namespace, and its webhook only sees pods there, so
# that it never competes with the operators the e2e tests start for their own namespaces.
kubectl create namespace "$smoke_ns" --dry-run=client -o yaml | kubectl apply -f -
log "installing the chart into $release_ns"
helm upgrade --install signet "$repo/charts/signet" \
  --namespace "$release_ns" --create-namespace \
  --set image.repository="${image%:*}" --set image.tag="${image##*:}" --set image.pullPolicy=Never \
  --set-json "watchNamespaces=[\"$smoke_ns\"]" \
  --wait --timeout 180s
kubectl -n "$release_ns" rollout status deployment/signet --timeout 120s

log "smoke test: a MachineIdentity becomes Ready"
kubectl apply -f - <<YAML
apiVersion: signet.dev/v1alpha1
kind: MachineIdentity
metadata: {name: smoke, namespace: $smoke_ns}
spec:
  serviceAccounts: [default]
YAML
kubectl -n "$smoke_ns" wait machineidentity/smoke --for=condition=Ready --timeout 120s
kubectl -n "$smoke_ns" get secret smoke-identity
kubectl get mutatingwebhookconfiguration signet-pod-identity \
  -o jsonpath='{.webhooks[0].clientConfig.caBundle}' | grep -q . \
  || { log "the webhook's caBundle was not filled in"; exit 1; }

log "running the e2e suite against $cluster"
cd "$repo"
SIGNET_E2E_KUBECONFIG="$kubeconfig" HELM="$(command -v helm)" npm run test:e2e
