#!/usr/bin/env bash
# Builds Signet's container images with buildah, without any image registry, and writes each one
# as a docker-archive that `ctr images import` (or `docker load`) reads with its name:
#
#   localhost/signet-base:node24   Node 24 and npm on an otherwise empty root: the Dockerfile's NODE_IMAGE
#   signet:dev                     the repository's Dockerfile, built on that base
#   registry.k8s.io/pause:3.6      the sandbox image containerd 1.6 asks for: busybox, sleeping
#   signet-e2e-peer:dev            e2e/node/peer.ts on signet:dev, the workload the e2e tests run in pods
#                                  (its proof-get signs with the image's built operator/src/proof)
#
#   scripts/image/build.sh [--out DIR]
#
# Prints one archive path per line on stdout, progress on stderr. An image whose inputs (the files
# that go into it, this script, the Dockerfile) hash as they did when its archive was written is
# not built again.
set -euo pipefail

log() { printf '[image] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

usage() {
  cat >&2 <<'EOF'
usage: scripts/image/build.sh [--out DIR]

Builds localhost/signet-base:node24, signet:dev, registry.k8s.io/pause:3.6 and signet-e2e-peer:dev
with buildah and writes one docker-archive per image into DIR
(default: ${SIGNET_CACHE_DIR:-$HOME/.cache/signet}/images).

Environment:
  SIGNET_CACHE_DIR         cache root (archives in images/, buildah storage in buildah/)
  SIGNET_BUILDAH_DRIVER    buildah storage driver: overlay (default when the kernel has it) or vfs
EOF
}

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
script="$repo/scripts/image/build.sh"
cache="${SIGNET_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/signet}"
out="$cache/images"

while (($#)); do
  case "$1" in
    --out)
      (($# >= 2)) || {
        usage
        exit 2
      }
      out="$2"
      shift 2
      ;;
    --out=*)
      out="${1#--out=}"
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      log "unknown argument: $1"
      usage
      exit 2
      ;;
  esac
done

command -v buildah >/dev/null ||
  die "buildah is not installed; on Debian or Ubuntu: apt-get install buildah busybox-static"
[[ -x /bin/busybox ]] && ! ldd /bin/busybox >/dev/null 2>&1 ||
  die "/bin/busybox is missing or not static (the pause image needs it): apt-get install busybox-static"
command -v npm >/dev/null || die "npm is not on PATH (the base image takes its npm from the machine)"

mkdir -p "$out"
out="$(cd "$out" && pwd)"

# Concurrent callers (a test run and a person) wait for one build.
exec 9>"$out/.build.lock"
if ! flock -n 9; then
  log "another build is writing to $out; waiting for it"
  flock 9
fi

# buildah's storage lives in the cache, not in the machine's configuration: overlay when the kernel
# has it (fast, shares layers), vfs otherwise (plain copies, works everywhere).
driver="${SIGNET_BUILDAH_DRIVER:-}"
if [[ -z "$driver" ]]; then
  if grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null; then driver=overlay; else driver=vfs; fi
fi
storage_root="$cache/buildah/$driver"
# The run root (locks, mount points) belongs to one storage root: one per storage path.
run_root="$(if ((EUID == 0)); then echo /run; else echo "${XDG_RUNTIME_DIR:-/tmp}"; fi)"
run_root+="/signet-buildah-$UID/$(printf '%s' "$storage_root" | sha256sum | cut -c1-16)"
mkdir -p "$storage_root"
bh() { buildah --root "$storage_root" --runroot "$run_root" --storage-driver "$driver" "$@"; }

BASE=localhost/signet-base:node24
SIGNET=signet:dev
PAUSE=registry.k8s.io/pause:3.6
PEER=signet-e2e-peer:dev

# Working containers and temporary files of this run, removed however it ends.
containers=()
temps=()
cleanup() {
  local c t
  for c in "${containers[@]}"; do bh rm "$c" >/dev/null 2>&1 || true; done
  for t in "${temps[@]}"; do rm -rf -- "$t"; done
}
trap cleanup EXIT

# The container was committed with --rm: nothing left to remove at exit.
forget() { # name
  local kept=() c
  for c in "${containers[@]}"; do [[ "$c" == "$1" ]] || kept+=("$c"); done
  containers=("${kept[@]}")
}

# A container from `buildah from`, removed at exit; a leftover of a killed run with the same name first.
working_container() { # name, from
  bh rm "$1" >/dev/null 2>&1 || true
  containers+=("$1")
  bh from --quiet --pull-never --name "$1" "$2" >/dev/null
}

# sha256 over the names, modes and contents of the given files and directories, plus extra strings.
# One sha256sum per argument list, not per file: npm alone is some two thousand files.
hash_of() { # [--text STRING]... PATH...
  local files=()
  {
    while (($#)); do
      case "$1" in
        --text)
          printf 'text %s\n' "$2"
          shift
          ;;
        *)
          if [[ -d "$1" ]]; then
            (cd "$1" && find . -type l -printf 'link %p %l\n' | LC_ALL=C sort &&
              find . -type f -print0 | LC_ALL=C sort -z | xargs -0r stat -c 'mode %a %n' &&
              find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum) | sed "s|^|$1 |"
          else
            files+=("$1")
          fi
          ;;
      esac
      shift
    done
    if ((${#files[@]})); then
      stat -c 'mode %a %n' -- "${files[@]}"
      sha256sum -- "${files[@]}"
    fi
  } | sha256sum | cut -d' ' -f1
}

archive_of() { # image name -> archive file
  local name="${1##*/}"
  printf '%s/%s.tar' "$out" "${name//:/_}"
}

# True when the archive exists and was written from inputs with this hash.
fresh() { # archive, hash
  [[ -s "$1" && -f "$1.inputs" && "$(cat "$1.inputs")" == "$2" ]]
}

# Writes the image as a docker-archive (the name travels inside it) and the hash of its inputs.
export_image() { # image, archive, hash
  local tmp="$2.tmp"
  rm -f "$tmp" "$2.inputs"
  bh push --quiet "$1" "docker-archive:$tmp:$1" >/dev/null
  mv -f "$tmp" "$2"
  printf '%s\n' "$3" >"$2.inputs"
  log "$1: $(du -h "$2" | cut -f1) in $2"
}

image_id() { bh inspect --type image --format '{{.FromImageID}}' "$1" 2>/dev/null || true; }

# The image is in buildah's storage: dependents build FROM it even when its archive is fresh.
ensure_local() { # image, archive
  [[ -n "$(image_id "$1")" ]] && return
  log "$1: loading from $2"
  local id
  id="$(bh pull --quiet "docker-archive:$2")"
  [[ -n "$(image_id "$1")" ]] || bh tag "$id" "$1"
}

# Drops the image the name pointed at before a rebuild, so repeated runs do not pile up images.
drop_replaced() { # previous image id, image name
  [[ -n "$1" && "$(image_id "$2")" != "$1" ]] || return 0
  bh rmi "$1" >/dev/null 2>&1 || true
}

# --- a. the base: Node 24 from node_modules, its shared libraries, the machine's npm ---------------

node_bin="$repo/node_modules/node/bin/node"
[[ -e "$node_bin" ]] || die "$node_bin is missing: run npm ci first"
node_bin="$(readlink -f "$node_bin")"
node_version="$("$node_bin" --version)"
[[ "$node_version" == v24.* ]] || die "$node_bin is $node_version, not Node 24"
# ldd's view of the binary: libraries as `name => /path (addr)`, the loader as `/path (addr)`.
mapfile -t libs < <(ldd "$node_bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
((${#libs[@]} > 0)) || die "ldd lists no libraries for $node_bin"
npm_dir="$(readlink -f "$(command -v npm)")"
npm_dir="${npm_dir%/bin/npm-cli.js}"
[[ -f "$npm_dir/package.json" && -f "$npm_dir/bin/npm-cli.js" ]] || die "cannot find npm's package directory"
npm_version="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$npm_dir/package.json" | head -n1)"
ca_bundle=/etc/ssl/certs/ca-certificates.crt
[[ -f "$ca_bundle" ]] || die "$ca_bundle is missing: apt-get install ca-certificates"

build_base() {
  local archive="$1" hash="$2" c=signet-base-work mnt lib
  log "$BASE: node $node_version, npm $npm_version, ${#libs[@]} shared objects"
  working_container "$c" scratch
  mnt="$(bh mount "$c")"
  install -D -m 0755 "$node_bin" "$mnt/usr/local/bin/node"
  for lib in "${libs[@]}"; do install -D -m 0755 "$(readlink -f "$lib")" "$mnt$lib"; done
  mkdir -p "$mnt/usr/local/lib/node_modules"
  cp -a "$npm_dir" "$mnt/usr/local/lib/node_modules/npm"
  # There is no /usr/bin/env for npm-cli.js's `#!/usr/bin/env node`: node runs the wrappers itself.
  local tool
  for tool in npm npx; do
    printf '#!/usr/local/bin/node\nrequire("/usr/local/lib/node_modules/npm/bin/%s-cli.js");\n' "$tool" \
      >"$mnt/usr/local/bin/$tool"
    chmod 0755 "$mnt/usr/local/bin/$tool"
  done
  install -D -m 0644 "$ca_bundle" "$mnt$ca_bundle"
  mkdir -p "$mnt/etc" "$mnt/root" "$mnt/home/nonroot" "$mnt/tmp"
  chmod 0700 "$mnt/root"
  chmod 1777 "$mnt/tmp"
  chown 65532:65532 "$mnt/home/nonroot"
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$mnt/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nonroot:x:65532:' >"$mnt/etc/group"
  printf '%s\n' 'passwd: files' 'group: files' 'hosts: files dns' >"$mnt/etc/nsswitch.conf"
  bh umount "$c" >/dev/null
  bh config \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env NODE_VERSION="${node_version#v}" \
    --cmd node \
    --label org.opencontainers.image.title=signet-base \
    --label org.opencontainers.image.description="Node $node_version and npm $npm_version, no shell" \
    "$c"
  local previous
  previous="$(image_id "$BASE")"
  bh commit --quiet --rm "$c" "$BASE" >/dev/null
  forget "$c"
  drop_replaced "$previous" "$BASE"
  base_rebuilt=1
  export_image "$BASE" "$archive" "$hash"
}

# --- b. signet: the repository's Dockerfile on the base -------------------------------------------

# Exactly what .dockerignore lets into the build context.
context_files() {
  (cd "$repo" && { find operator/src webhooks/src -type f ! -name '*.test.ts' ! -name 'test-support.ts' \
    ! -name 'test-fixtures.ts' ! -name 'fake-*.ts' ! -path '*/testing/*' -print; echo scripts/build.ts; } | LC_ALL=C sort)
}

# The machine's npm configuration for `npm ci` in the deps stage, as a build secret: the registry,
# the CA file (the base carries this machine's bundle at the same path), proxies and the registry's
# credentials. Mode 600, removed at exit, never printed.
write_npmrc() { # file
  local file="$1" key value cafile
  : >"$file"
  chmod 0600 "$file"
  printf 'registry=%s\n' "$(npm config get registry)" >>"$file"
  printf 'update-notifier=false\n' >>"$file"
  cafile="$(npm config get cafile)"
  if [[ -n "$cafile" && "$cafile" != null && "$cafile" != undefined ]]; then
    [[ "$(readlink -f "$cafile")" == "$(readlink -f "$ca_bundle")" ]] ||
      log "warning: npm's cafile is not $ca_bundle; npm ci in the image trusts only that bundle"
    printf 'cafile=%s\n' "$ca_bundle" >>"$file"
  fi
  for key in strict-ssl proxy https-proxy noproxy; do
    value="$(npm config get "$key")"
    [[ -z "$value" || "$value" == null || "$value" == undefined ]] || printf '%s=%s\n' "$key" "$value" >>"$file"
  done
  # Per-registry settings (tokens, basic auth, client certificates) as the npmrc files spell them.
  local rc
  for rc in "$(npm config get globalconfig)" "$(npm config get userconfig)"; do
    [[ -f "$rc" ]] && grep -E '^[[:space:]]*//[^[:space:]]+:(_auth|_authToken|_password|username|email|certfile|keyfile)[[:space:]]*=' "$rc" >>"$file" || true
  done
}

build_signet() {
  local archive="$1" hash="$2" npmrc previous
  ensure_local "$BASE" "$(archive_of "$BASE")"
  npmrc="$(mktemp "${TMPDIR:-/tmp}/signet-npmrc.XXXXXX")"
  temps+=("$npmrc")
  write_npmrc "$npmrc"
  # The layer cache of builds on a base that is gone can never hit again.
  ((base_rebuilt)) && bh rmi --prune >/dev/null 2>&1 || true
  log "$SIGNET: buildah build of $repo/Dockerfile on $BASE"
  previous="$(image_id "$SIGNET")"
  bh build \
    --file "$repo/Dockerfile" \
    --tag "$SIGNET" \
    --build-arg NODE_IMAGE="$BASE" \
    --pull-never \
    --isolation chroot \
    --network host \
    --layers \
    --secret id=npmrc,src="$npmrc" \
    --quiet \
    "$repo" >/dev/null
  rm -f "$npmrc"
  drop_replaced "$previous" "$SIGNET"
  export_image "$SIGNET" "$archive" "$hash"
}

# --- c. pause: busybox as the only file, sleeping until SIGTERM -----------------------------------

build_pause() {
  local archive="$1" hash="$2" c=signet-pause-work previous
  log "$PAUSE: busybox-static"
  working_container "$c" scratch
  bh copy --chmod 0755 "$c" /bin/busybox /busybox >/dev/null
  # sh as PID 1 ignores SIGTERM unless trapped; the trap runs once `wait` returns.
  bh config --cmd '[]' "$c"
  bh config \
    --entrypoint '["/busybox", "sh", "-c", "trap \"exit 0\" TERM INT; while :; do sleep 3600 & wait; done"]' \
    --label org.opencontainers.image.title=pause \
    "$c"
  previous="$(image_id "$PAUSE")"
  bh commit --quiet --rm "$c" "$PAUSE" >/dev/null
  forget "$c"
  drop_replaced "$previous" "$PAUSE"
  export_image "$PAUSE" "$archive" "$hash"
}

# --- d. the e2e peer: e2e/node/peer.ts on signet, whose built proof library it signs with ----------

build_peer() {
  local archive="$1" hash="$2" c=signet-peer-work previous pkg
  ensure_local "$SIGNET" "$(archive_of "$SIGNET")"
  log "$PEER: e2e/node/peer.ts on $SIGNET"
  working_container "$c" "$SIGNET"
  pkg="$(mktemp "${TMPDIR:-/tmp}/signet-peer-package.XXXXXX")"
  temps+=("$pkg")
  printf '{ "type": "module" }\n' >"$pkg"
  bh copy --chmod 0644 "$c" "$repo/e2e/node/peer.ts" /peer/peer.ts >/dev/null
  bh copy --chmod 0644 "$c" "$pkg" /peer/package.json >/dev/null
  bh config --cmd '[]' "$c" # signet's `run`, which the entrypoint would take as an argument
  bh config \
    --entrypoint '["node", "/peer/peer.ts"]' \
    --env SIGNET_PROOF_LIBRARY=/app/operator/src/proof/index.js \
    --user 65532:65532 \
    --workingdir /peer \
    --label org.opencontainers.image.title=signet-e2e-peer \
    "$c"
  previous="$(image_id "$PEER")"
  bh commit --quiet --rm "$c" "$PEER" >/dev/null
  forget "$c"
  drop_replaced "$previous" "$PEER"
  export_image "$PEER" "$archive" "$hash"
}

# --- in order, each only when its inputs changed ---------------------------------------------------

started=$SECONDS
base_rebuilt=0
log "buildah $(buildah --version | awk '{print $3}'), storage $driver in $storage_root"

base_hash="$(hash_of --text "$BASE" "$script" "$node_bin" "${libs[@]}" "$npm_dir" "$ca_bundle")"
mapfile -t signet_files < <(context_files)
signet_hash="$(cd "$repo" && hash_of --text "$SIGNET" --text "base $base_hash" "$script" Dockerfile \
  .dockerignore package.json package-lock.json "${signet_files[@]}")"
pause_hash="$(hash_of --text "$PAUSE" "$script" /bin/busybox)"
peer_hash="$(hash_of --text "$PEER" --text "signet $signet_hash" "$script" "$repo/e2e/node/peer.ts")"

for spec in "$BASE build_base $base_hash" "$SIGNET build_signet $signet_hash" \
  "$PAUSE build_pause $pause_hash" "$PEER build_peer $peer_hash"; do
  read -r image builder hash <<<"$spec"
  archive="$(archive_of "$image")"
  if fresh "$archive" "$hash"; then
    log "$image: up to date in $archive"
  else
    step=$SECONDS
    "$builder" "$archive" "$hash"
    log "$image: built in $((SECONDS - step))s"
  fi
  printf '%s\n' "$archive"
done

log "done in $((SECONDS - started))s"
