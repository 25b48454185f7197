#!/usr/bin/env bash
# Build a real kube-apiserver and kube-proxy from Debian 12's `kubernetes` SOURCE package (1.20.2,
# vendored dependencies) with Debian's Go 1.19, and fetch Debian's kubectl (kubernetes-client, the
# same 1.20.2) next to them. Idempotent: the binaries are cached under .cache/apiserver/<version>/bin/,
# keyed by the source package version, and a second run only checks that they are there; when
# only one of the two is missing (a cache from before kube-proxy was added), only that one is built.
#
#   Tests/apiserver/build.sh [--force]
#
# Steps (each done only when needed):
#   1. apt: a deb-src entry for the same Debian archive as /etc/apt/sources.list.d/debian.sources
#      (/etc/apt/sources.list.d/kube-ipvs-deb-src.sources), `apt-get update` only when the source
#      package or a binary package is unknown, then golang-go, etcd-server, openssl, curl,
#      golang-github-modern-go-reflect2-dev, make and rsync (the Makefile copies binaries with it).
#   2. `apt-get source --download-only kubernetes`, unpack the upstream tarball.
#   3. The Go >= 1.18 fix: vendored github.com/modern-go/reflect2 v1.0.1 panics (nil pointer in
#      reflect2.Type2 while decoding maps); replace it with Debian's 1.0.2 (go.mod removed).
#   4. `make WHAT="cmd/kube-apiserver cmd/kube-proxy"` (only the missing ones) with CGO_ENABLED=0
#      (static), GOPATH inside the tree, HOME=/tmp/h, under `nice -n 19`. kube-apiserver is
#      ~9 CPU-minutes: ~5 min on 2 idle cores, 13-15 min while other builds run; kube-proxy
#      alone is smaller (it shares client-go and the apimachinery with it).
#   5. kubectl: `apt-get download kubernetes-client`, unpacked (not installed: a `kubectl`
#      package from elsewhere may own /usr/bin/kubectl).
# The source tree and Go caches are deleted after a successful build; the downloaded source
# files stay in .cache/apiserver/src/ for a rebuild without network.
#
# Writes .cache/apiserver/env (shell variables KUBE_APISERVER_BIN, KUBECTL_BIN, KUBE_PROXY_BIN,
# ETCD_BIN, KUBE_APISERVER_VERSION) for start.sh, the migration test and the benchmarks. Exit status: 0 ready; 77 cannot be done here (not root
# and something missing, no package archive); anything else: the build failed.
# Nothing here is ever committed: .cache/ is git-ignored.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${KUBE_IPVS_APISERVER_CACHE:-$repo/.cache/apiserver}
force=0
for a in "$@"; do
    case $a in
        --force) force=1 ;;
        *) echo "usage: $0 [--force]" >&2; exit 2 ;;
    esac
done
t0=$(date +%s)
log() { echo "apiserver-build: $*" >&2; }
skip() { log "cannot build here: $*"; echo "cannot build the API server: $*"; exit 77; }

export DEBIAN_FRONTEND=noninteractive
is_root=0; [ "$(id -u)" = 0 ] && is_root=1

# --- 1. apt -----------------------------------------------------------------------------------
srclist=/etc/apt/sources.list.d/kube-ipvs-deb-src.sources
updated=0
apt_update() {
    [ "$updated" = 1 ] && return 0
    [ "$is_root" = 1 ] || skip "not root: cannot run apt-get update"
    log "apt-get update"
    apt-get update -q </dev/null >&2 || skip "apt-get update failed (no package archive?)"
    updated=1
}
if [ ! -f "$srclist" ]; then
    base=/etc/apt/sources.list.d/debian.sources
    [ -f "$base" ] || skip "no $base to copy a deb-src entry from"
    [ "$is_root" = 1 ] || skip "not root: cannot add $srclist"
    log "adding $srclist (deb-src for the archive of $base)"
    { echo "# Added by kube-ipvs Tests/apiserver/build.sh: source packages of the same archive."
      sed -e 's/^Types:.*/Types: deb-src/' "$base"; } >"$srclist"
fi

source_version() { # the candidate version of the kubernetes source package, or nothing
    apt-cache showsrc kubernetes 2>/dev/null | awk '/^Version:/ {print $2}' | sort -V | tail -n 1 || true
}
ver=$(source_version)
if [ -z "$ver" ]; then
    apt_update
    ver=$(source_version)
    [ -n "$ver" ] || skip "apt knows no source package 'kubernetes' even after apt-get update"
fi
key=${ver//[:~]/_}
out=$cache/$key
bin=$out/bin

pkgs="golang-go etcd-server golang-github-modern-go-reflect2-dev openssl curl rsync make"
missing=()
for p in $pkgs; do
    s=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    [ "${s:0:2}" = ii ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    [ "$is_root" = 1 ] || skip "not root: cannot install ${missing[*]}"
    log "installing ${missing[*]}"
    if ! apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null >&2; then
        apt_update
        apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null >&2 ||
            skip "apt-get install ${missing[*]} failed"
    fi
fi
etcd_bin=$(command -v etcd || true)
[ -n "$etcd_bin" ] || skip "etcd-server installed but no etcd on PATH"

write_env() { # (a non-root caller with a root-made cache keeps the env file that is there)
    if [ -f "$cache/env" ] && [ ! -w "$cache" ]; then
        grep -qF "KUBE_PROXY_BIN='$bin/kube-proxy'" "$cache/env" && return 0
        skip "$cache is not writable"
    fi
    cat >"$cache/env.tmp" <<EOF
# Written by Tests/apiserver/build.sh; read by Tests/apiserver/start.sh.
KUBE_APISERVER_VERSION='$ver'
KUBE_APISERVER_BIN='$bin/kube-apiserver'
KUBECTL_BIN='$bin/kubectl'
KUBE_PROXY_BIN='$bin/kube-proxy'
ETCD_BIN='$etcd_bin'
EOF
    mv "$cache/env.tmp" "$cache/env"
}

mkdir -p "$cache"
if [ "$force" = 0 ] && [ -x "$bin/kube-apiserver" ] && [ -x "$bin/kube-proxy" ] && [ -x "$bin/kubectl" ]; then
    write_env
    log "cached: $bin (kubernetes source $ver), $(( $(date +%s) - t0 )) s"
    exit 0
fi
[ "$is_root" = 1 ] || skip "not root (the build installs packages and writes the cache as root)"
mkdir -p "$bin"

# --- 5 (first, it is quick). kubectl from Debian's kubernetes-client ---------------------------
if [ "$force" = 1 ] || [ ! -x "$bin/kubectl" ]; then
    tmp=$(mktemp -d "$cache/kubectl.XXXXXX")
    if ! (cd "$tmp" && apt-get -o APT::Sandbox::User=root download kubernetes-client </dev/null >&2); then
        apt_update
        (cd "$tmp" && apt-get -o APT::Sandbox::User=root download kubernetes-client </dev/null >&2) ||
            skip "apt-get download kubernetes-client failed"
    fi
    dpkg-deb -x "$tmp"/kubernetes-client_*.deb "$tmp/root"
    install -m 0755 "$tmp/root/usr/bin/kubectl" "$bin/kubectl"
    rm -rf "$tmp"
    log "kubectl: $("$bin/kubectl" version --client --short 2>/dev/null || true)"
fi

# --- 2. source --------------------------------------------------------------------------------
what=()
for c in kube-apiserver kube-proxy; do
    if [ "$force" = 1 ] || [ ! -x "$bin/$c" ]; then what+=("$c"); fi
done
if [ ${#what[@]} -gt 0 ]; then
    src=$cache/src/$key
    mkdir -p "$src"
    if ! ls "$src"/kubernetes_*.dsc >/dev/null 2>&1; then
        log "apt-get source --download-only kubernetes=$ver"
        (cd "$src" && apt-get -o APT::Sandbox::User=root source -q --download-only "kubernetes=$ver" </dev/null >&2) ||
            skip "apt-get source --download-only kubernetes failed"
    fi
    # The upstream tarball(s): kubernetes_<upstream>.orig.tar.* (+ optional .orig-<component>).
    orig=$(ls "$src"/kubernetes_*.orig.tar.* | grep -v '\.asc$' | head -n 1)
    [ -n "$orig" ] || { log "no .orig tarball in $src"; ls -l "$src" >&2; exit 1; }
    tree=$cache/build-$key
    rm -rf "$tree"; mkdir -p "$tree"
    log "unpacking $(basename "$orig")"
    tar -xf "$orig" -C "$tree" --strip-components=1
    for comp in "$src"/kubernetes_*.orig-*.tar.*; do
        [ -e "$comp" ] || continue
        case $comp in *.asc) continue ;; esac
        c=${comp##*.orig-}; c=${c%%.tar.*}
        log "unpacking component $c"
        mkdir -p "$tree/$c"; tar -xf "$comp" -C "$tree/$c" --strip-components=1
    done
    [ -f "$tree/Makefile" ] && [ -d "$tree/cmd/kube-apiserver" ] || {
        log "unexpected source layout in $tree"; ls "$tree" >&2; exit 1; }

    # --- 3. reflect2 fix ----------------------------------------------------------------------
    r2=/usr/share/gocode/src/github.com/modern-go/reflect2
    [ -d "$r2" ] || { log "missing $r2 (golang-github-modern-go-reflect2-dev)"; exit 1; }
    rm -rf "$tree/vendor/github.com/modern-go/reflect2"
    cp -r "$r2" "$tree/vendor/github.com/modern-go/reflect2"
    rm -f "$tree/vendor/github.com/modern-go/reflect2/go.mod" "$tree/vendor/github.com/modern-go/reflect2/go.sum"
    log "vendor/github.com/modern-go/reflect2 replaced by Debian's $(dpkg-query -W -f='${Version}' golang-github-modern-go-reflect2-dev)"

    # --- 4. build -----------------------------------------------------------------------------
    upstream=${ver#*:}; upstream=${upstream%%-*}; upstream=${upstream##*really}
    major=${upstream%%.*}; minor=${upstream#*.}; minor=${minor%%.*}
    cat >"$tree/.kube-version" <<EOF
KUBE_GIT_VERSION='v$upstream'
KUBE_GIT_MAJOR='$major'
KUBE_GIT_MINOR='$minor'
KUBE_GIT_TREE_STATE='clean'
KUBE_GIT_COMMIT='debian-$key'
EOF
    mkdir -p "$tree/.go/src/k8s.io" /tmp/h
    ln -sfn ../../.. "$tree/.go/src/k8s.io/kubernetes"
    targets=$(printf 'cmd/%s ' "${what[@]}")
    log "building ${what[*]} v$upstream with $(go version | awk '{print $3}') (a few minutes; log: $tree/build.log)"
    tb=$(date +%s)
    # nice: the build is long and CPU-bound; whatever else runs on the machine keeps its share.
    if ! (cd "$tree/.go/src/k8s.io/kubernetes" &&
          env GOPATH="$tree/.go" GOCACHE="$tree/.gocache" \
              CGO_ENABLED=0 HOME=/tmp/h KUBE_GIT_VERSION_FILE="$tree/.kube-version" \
              nice -n 19 make WHAT="${targets% }" </dev/null >"$tree/build.log" 2>&1); then
        tail -n 40 "$tree/build.log" >&2
        log "build FAILED after $(( $(date +%s) - tb )) s; tree kept at $tree"
        exit 1
    fi
    for c in "${what[@]}"; do
        built=$tree/_output/bin/$c
        [ -x "$built" ] || built=$(find "$tree/_output" -name "$c" -type f | head -n 1)
        install -m 0755 "$built" "$bin/$c"
        log "$c: $("$bin/$c" --version 2>&1)"
    done
    log "${what[*]} built in $(( $(date +%s) - tb )) s"
    chmod -R u+w "$tree" 2>/dev/null || true
    rm -rf "$tree"
fi

write_env
log "ready: $bin (kubernetes source $ver), total $(( $(date +%s) - t0 )) s"
