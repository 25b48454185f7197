#!/usr/bin/env bash
# Build kube-ipvs's container image WITHOUT a container daemon, as an OCI image archive:
#   - the runtime root filesystem from Debian 12's archive with mmdebstrap: minbase plus the
#     packages deploy/Containerfile's runtime stage installs (read from that file: one list), with
#     the documentation, man pages and locales left out as in debian:bookworm-slim;
#   - a second layer with the release binary (stripped) at /usr/local/bin/kube-ipvs and
#     deploy/prepare-node.sh at /usr/local/bin/kube-ipvs-prepare-node, as the Containerfile COPYs;
#   - ENTRYPOINT ["/usr/local/bin/kube-ipvs"], CMD ["--help"], as the Containerfile;
#   - written with umoci, then tarred: an OCI archive (`podman load -i`, `docker load -i` (Docker
#     25+), `skopeo copy oci-archive:FILE ...`, `ctr -n k8s.io images import FILE`).
#
#   deploy/build-image.sh [--binary FILE] [--tag TAG] [--output FILE]
#
#   --binary  the kube-ipvs release binary, built with --static-swift-stdlib (default
#             $KUBE_IPVS_IMAGE_BINARY, else .build-guest/release/kube-ipvs, built when missing with
#             `swift build -c release --static-swift-stdlib --scratch-path .build-guest`)
#   --tag     the image's tag (default: the one deploy/daemonset.yaml names, e.g. 0.1.0)
#   --output  the archive (default .cache/image/kube-ipvs-TAG.oci.tar)
# The image is named docker.io/library/kube-ipvs:TAG (the `kube-ipvs:TAG` of deploy/daemonset.yaml)
# in the index's io.containerd.image.name annotation, which `ctr images import` uses.
# Needs root (mmdebstrap's root mode), mmdebstrap, umoci and the network to Debian's archive
# (apt-get install mmdebstrap umoci). Last line: the archive's path and size.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
binary=${KUBE_IPVS_IMAGE_BINARY:-}
tag=$(sed -n 's/^ *image: kube-ipvs:\([^ ]*\) *$/\1/p' deploy/daemonset.yaml | head -n 1)
output=
while [ $# -gt 0 ]; do
    case $1 in
        --binary) binary=$2; shift 2 ;;
        --tag) tag=$2; shift 2 ;;
        --output) output=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-image: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$tag" ] || { echo "build-image: no --tag and no kube-ipvs:TAG image in deploy/daemonset.yaml" >&2; exit 2; }
output=${output:-$repo/.cache/image/kube-ipvs-$tag.oci.tar}
log() { echo "build-image: $*" >&2; }
die() { echo "build-image: error: $*" >&2; exit 1; }
for t in mmdebstrap umoci; do
    command -v "$t" >/dev/null || die "$t is not installed (apt-get install mmdebstrap umoci)"
done
[ "$(id -u)" = 0 ] || die "run as root (mmdebstrap builds the root filesystem in root mode)"
t0=$(date +%s)

if [ -z "$binary" ]; then
    binary=.build-guest/release/kube-ipvs
    if [ ! -x "$binary" ]; then
        log "building $binary (swift build -c release --static-swift-stdlib --scratch-path .build-guest)"
        swift build -c release --static-swift-stdlib --scratch-path .build-guest --product kube-ipvs >&2
    fi
fi
[ -x "$binary" ] || die "no executable binary at $binary"
if ldd "$binary" 2>/dev/null | grep -Eq '/swift/|libswiftCore|libFoundation'; then
    die "$binary links Swift runtime libraries: build it with --static-swift-stdlib"
fi

# The runtime stage's packages: the apt-get install of everything after the Containerfile's last
# FROM (the same parsing as Tests/deploy/containerfile-libs.sh), so the two builds cannot differ.
packages=$(awk '/^FROM /{buf=""} {buf = buf $0 "\n"} END {printf "%s", buf}' deploy/Containerfile |
    sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' | grep 'apt-get install' |
    sed 's/.*apt-get install//; s/&&.*//' | tr ' ' '\n' | grep -v '^-' | grep -v '^$' | sort -u | paste -sd, -)
[ -n "$packages" ] || die "no apt-get install in deploy/Containerfile's runtime stage"
grep -q '^FROM debian:bookworm-slim' deploy/Containerfile || die "deploy/Containerfile's runtime base is no longer debian:bookworm-slim: update this script"
log "runtime packages (from deploy/Containerfile): $packages"

work=$(mktemp -d /tmp/kube-ipvs-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
# One timestamp for every file and the image config: the same inputs give the same layers.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

# --- the base layer: Debian 12 minbase + the packages, slimmed like debian:bookworm-slim -----
log "mmdebstrap bookworm (minbase + packages)"
mmdebstrap --variant=minbase --mode=root --format=tar --include="$packages" \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*.log "$1"/var/log/apt/*' \
    bookworm "$work/base.tar" \
    "deb http://deb.debian.org/debian bookworm main" \
    "deb http://deb.debian.org/debian bookworm-updates main" \
    "deb http://deb.debian.org/debian-security bookworm-security main" >"$work/mmdebstrap.log" 2>&1 ||
    { tail -n 30 "$work/mmdebstrap.log" >&2; die "mmdebstrap failed"; }

# --- the application layer: what the Containerfile COPYs --------------------------------------
mkdir -p "$work/app/usr/local/bin"
install -m 0755 "$binary" "$work/app/usr/local/bin/kube-ipvs"
strip "$work/app/usr/local/bin/kube-ipvs" 2>/dev/null || log "note: strip failed; the binary is unstripped"
install -m 0755 deploy/prepare-node.sh "$work/app/usr/local/bin/kube-ipvs-prepare-node"
tar -C "$work/app" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
    -cf "$work/app.tar" usr

# --- the OCI layout --------------------------------------------------------------------------
oci=$work/oci
umoci init --layout "$oci"
umoci new --image "$oci:$tag"
umoci raw add-layer --image "$oci:$tag" --history.created_by "mmdebstrap bookworm minbase + $packages" "$work/base.tar"
umoci raw add-layer --image "$oci:$tag" --history.created_by "kube-ipvs binary and kube-ipvs-prepare-node" "$work/app.tar"
umoci config --image "$oci:$tag" --os linux --architecture amd64 \
    --config.env 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --config.entrypoint /usr/local/bin/kube-ipvs --config.cmd=--help \
    --config.label "org.opencontainers.image.title=kube-ipvs" \
    --config.label "org.opencontainers.image.version=$tag"
umoci gc --layout "$oci"
# The name containerd gives the image on import (the DaemonSet's `kube-ipvs:TAG`, normalized).
jq --arg n "docker.io/library/kube-ipvs:$tag" \
    '.manifests |= map(.annotations["io.containerd.image.name"] = $n)' "$oci/index.json" >"$work/index.json"
mv "$work/index.json" "$oci/index.json"
mkdir -p "$(dirname "$output")"
tar -C "$oci" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" -cf "$output.tmp" .
mv "$output.tmp" "$output"
size=$(stat -c %s "$output")
log "built in $(( $(date +%s) - t0 )) s: layers $(du -h "$work/base.tar" | cut -f1) (Debian) + $(du -h "$work/app.tar" | cut -f1) (kube-ipvs), uncompressed"
echo "image kube-ipvs:$tag: $output ($(numfmt --to=iec --suffix=B "$size"), $size bytes)"
