#!/usr/bin/env bash
# Builds promtool from the Prometheus module pinned in this directory's go.mod, once per version,
# into a cache outside the repository, and prints its path. The chart tests run it on the alerting
# rules the chart renders. A cached binary is reused without touching Go.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="$(awk '$1=="require" && $2=="github.com/prometheus/prometheus"{print $3; exit}' "$here/go.mod")"
[[ -n "$version" ]] || { echo "no github.com/prometheus/prometheus version in $here/go.mod" >&2; exit 1; }
cache="${SIGNET_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/signet}/promtool-${version}"
mkdir -p "$cache"

log() { printf '[promtool] %s\n' "$*" >&2; }

# Concurrent callers (two test files, a test run and npm run setup) wait for one build.
exec 9>"$cache/.build.lock"
if ! flock -n 9; then
  log "another build of $version is running; waiting for it"
  flock 9
fi

if [[ -x "$cache/promtool" ]]; then
  log "cached in $cache"
else
  log "building github.com/prometheus/prometheus/cmd/promtool $version (a cold build takes a few minutes on 2 cores)"
  start=$SECONDS
  (cd "$here" && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=${version#v}" \
    -o "$cache/promtool.tmp" github.com/prometheus/prometheus/cmd/promtool)
  mv "$cache/promtool.tmp" "$cache/promtool"
  log "built in $((SECONDS - start))s"
fi
echo "$cache/promtool"
