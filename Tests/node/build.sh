#!/usr/bin/env bash
# Build the node tier's Kubernetes components from the same Debian `kubernetes` source package
# as the API-server tier (Tests/apiserver/build.sh, which it runs first for the source download,
# kubectl and etcd): kubelet, kube-controller-manager and kube-scheduler 1.20.2, with Debian's
# Go 1.19 and CGO_ENABLED=0 (static: the kubelet runs in the QEMU guest). Idempotent: the
# binaries are cached next to kube-apiserver in .cache/apiserver/<version>/bin/ and a second run
# only checks they are there.
#
#   Tests/node/build.sh [--force]
#
# Writes .cache/apiserver/node-env (KUBELET_BIN, KUBE_CONTROLLER_MANAGER_BIN, KUBE_SCHEDULER_BIN).
# ~25 CPU-minutes for the three (the kubelet is the largest). Exit 77: cannot be done here.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${KUBE_IPVS_APISERVER_CACHE:-$repo/.cache/apiserver}
export KUBE_IPVS_APISERVER_CACHE=$cache
force=0
for a in "$@"; do
    case $a in
        --force) force=1 ;;
        *) echo "usage: $0 [--force]" >&2; exit 2 ;;
    esac
done
t0=$(date +%s)
log() { echo "node-build: $*" >&2; }

# The API-server tier's build: apt setup, the source download, kubectl, etcd, and the env file
# this script reads (the version key and where the source is).
set +e
bash "$repo/Tests/apiserver/build.sh"
rc=$?
set -e
[ "$rc" = 0 ] || exit "$rc"
# shellcheck disable=SC1091
. "$cache/env"
ver=$KUBE_APISERVER_VERSION
key=${ver//[:~]/_}
bin=$(dirname "$KUBE_APISERVER_BIN")
components="kubelet kube-controller-manager kube-scheduler"

write_env() {
    cat >"$cache/node-env.tmp" <<EOF2
# Written by Tests/node/build.sh; read by Tests/node/start.sh.
KUBELET_BIN='$bin/kubelet'
KUBE_CONTROLLER_MANAGER_BIN='$bin/kube-controller-manager'
KUBE_SCHEDULER_BIN='$bin/kube-scheduler'
EOF2
    mv "$cache/node-env.tmp" "$cache/node-env"
}
missing=()
for c in $components; do
    { [ "$force" = 0 ] && [ -x "$bin/$c" ]; } || missing+=("$c")
done
if [ ${#missing[@]} = 0 ]; then
    write_env
    log "cached: $bin ($components), $(( $(date +%s) - t0 )) s"
    exit 0
fi
[ "$(id -u)" = 0 ] || { log "not root"; echo "cannot build the node components: not root"; exit 77; }

src=$cache/src/$key
orig=$(ls "$src"/kubernetes_*.orig.tar.* 2>/dev/null | grep -v '\.asc$' | head -n 1 || true)
[ -n "$orig" ] || { log "no .orig tarball in $src (Tests/apiserver/build.sh downloads it)"; exit 1; }
# A tree of our own: the API-server build may be using its build-<key> at the same time.
tree=$cache/node-build-$key
rm -rf "$tree"; mkdir -p "$tree"
log "unpacking $(basename "$orig")"
tar -xf "$orig" -C "$tree" --strip-components=1
# The same Go >= 1.18 fix as the API-server build (reflect2 1.0.1 panics decoding maps).
r2=/usr/share/gocode/src/github.com/modern-go/reflect2
rm -rf "$tree/vendor/github.com/modern-go/reflect2"
cp -r "$r2" "$tree/vendor/github.com/modern-go/reflect2"
rm -f "$tree/vendor/github.com/modern-go/reflect2/go.mod" "$tree/vendor/github.com/modern-go/reflect2/go.sum"
upstream=${ver#*:}; upstream=${upstream%%-*}; upstream=${upstream##*really}
major=${upstream%%.*}; minor=${upstream#*.}; minor=${minor%%.*}
cat >"$tree/.kube-version" <<EOF2
KUBE_GIT_VERSION='v$upstream'
KUBE_GIT_MAJOR='$major'
KUBE_GIT_MINOR='$minor'
KUBE_GIT_TREE_STATE='clean'
KUBE_GIT_COMMIT='debian-$key'
EOF2
mkdir -p "$tree/.go/src/k8s.io" /tmp/h
ln -sfn ../../.. "$tree/.go/src/k8s.io/kubernetes"
what=""
for c in "${missing[@]}"; do what="$what cmd/$c"; done
log "building${what} v$upstream (log: $tree/build.log)"
tb=$(date +%s)
if ! (cd "$tree/.go/src/k8s.io/kubernetes" &&
      env GOPATH="$tree/.go" GOCACHE="$tree/.gocache" GOFLAGS=-p=2 \
          CGO_ENABLED=0 HOME=/tmp/h KUBE_GIT_VERSION_FILE="$tree/.kube-version" \
          make WHAT="${what# }" </dev/null >"$tree/build.log" 2>&1); then
    tail -n 40 "$tree/build.log" >&2
    log "build FAILED after $(( $(date +%s) - tb )) s; tree kept at $tree"
    exit 1
fi
mkdir -p "$bin"
for c in "${missing[@]}"; do
    built=$tree/_output/bin/$c
    [ -x "$built" ] || built=$(find "$tree/_output" -name "$c" -type f | head -n 1)
    install -m 0755 "$built" "$bin/$c"
    log "$c: $("$bin/$c" --version 2>&1 | head -n 1)"
done
log "built in $(( $(date +%s) - tb )) s"
chmod -R u+w "$tree" 2>/dev/null || true
rm -rf "$tree"
write_env
log "ready: $bin, total $(( $(date +%s) - t0 )) s"
