#!/usr/bin/env bash
# Build kube-ipvs's container image WITHOUT a container daemon, as an OCI image archive:
#   - the runtime root filesystem from Debian 12's archive with mmdebstrap: minbase plus the
#     packages deploy/Containerfile's runtime stage installs (read from that file: one list), with
#     the documentation, man pages and locales left out as in debian:bookworm-slim;
#   - a second layer replaying the rest of the Containerfile's runtime stage: the release binary
#     (stripped) where it COPYs /out/kube-ipvs, the repository files it COPYs,
#     its `RUN ln -s` links; any other instruction there is an error;
#   - the Containerfile's ENTRYPOINT and CMD;
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
# (apt-get install mmdebstrap umoci). At the end: the archive's size (compressed layers) and the
# unpacked root filesystem's; last line: the archive's path and size.
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

# --- the application layer: what the runtime stage does after its apt-get install ----------------
# COPY --from=build /out/kube-ipvs DEST (the binary), COPY FILE DEST (a file of the repository) and
# RUN ln -s TARGET LINK are replayed; anything else there is an error, so the two builds cannot
# drift apart silently.
mkdir -p "$work/app"
runtime=$(awk '/^FROM /{buf=""} {buf = buf $0 "\n"} END {printf "%s", buf}' deploy/Containerfile |
    sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' | grep -v '^[[:space:]]*#' | grep -v '^[[:space:]]*$' | tail -n +2)
entrypoint='' cmd=''
while read -r instr a1 a2 a3 rest; do
    case $instr in
        RUN)
            if [ "$a1 $a2" = "apt-get update" ]; then
                :   # the base layer above
            elif [ "$a1 $a2" = "ln -s" ] && [ -n "$a3" ] && [ -n "$rest" ] && [ "${rest#* }" = "$rest" ]; then
                mkdir -p "$work/app$(dirname "$rest")"
                ln -s "$a3" "$work/app$rest"
            else
                die "unsupported RUN in deploy/Containerfile's runtime stage: $a1 $a2 $a3 $rest"
            fi ;;
        COPY)
            if [ "$a1" = --from=build ]; then
                [ "$a2" = /out/kube-ipvs ] || die "unsupported COPY --from=build $a2 in deploy/Containerfile"
                mkdir -p "$work/app$(dirname "$a3")"
                install -m 0755 "$binary" "$work/app$a3"
                strip "$work/app$a3" 2>/dev/null || log "note: strip failed; the binary is unstripped"
            else
                [ -z "$a3" ] || die "unsupported COPY with several sources in deploy/Containerfile: $a1 $a2 $a3"
                mkdir -p "$work/app$(dirname "$a2")"
                install -m 0755 "$a1" "$work/app$a2"
            fi ;;
        ENTRYPOINT) entrypoint="$a1${a2:+ $a2}${a3:+ $a3}${rest:+ $rest}" ;;
        CMD) cmd="$a1${a2:+ $a2}${a3:+ $a3}${rest:+ $rest}" ;;
        *) die "unsupported instruction in deploy/Containerfile's runtime stage: $instr" ;;
    esac
done <<<"$runtime"
[ -x "$work/app/usr/local/bin/kube-ipvs" ] || die "deploy/Containerfile's runtime stage copies no /out/kube-ipvs"
tar -C "$work/app" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
    -cf "$work/app.tar" .
# ENTRYPOINT/CMD: JSON arrays in the Containerfile, as umoci flags.
json_args() { # FLAG JSON
    local flag=$1
    printf '%s' "$2" | jq -r '.[]' | while IFS= read -r a; do printf '%s=%s\n' "$flag" "$a"; done
}
mapfile -t ep_args < <(json_args --config.entrypoint "${entrypoint:-[]}")
mapfile -t cmd_args < <(json_args --config.cmd "${cmd:-[]}")
[ ${#ep_args[@]} -gt 0 ] || die "no ENTRYPOINT in deploy/Containerfile's runtime stage"

# --- the OCI layout --------------------------------------------------------------------------
oci=$work/oci
umoci init --layout "$oci"
umoci new --image "$oci:$tag"
umoci raw add-layer --image "$oci:$tag" --history.created_by "mmdebstrap bookworm minbase + $packages" "$work/base.tar"
umoci raw add-layer --image "$oci:$tag" --history.created_by "deploy/Containerfile runtime stage: COPY and RUN ln -s" "$work/app.tar"
umoci config --image "$oci:$tag" --os linux --architecture amd64 \
    --config.env 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "${ep_args[@]}" "${cmd_args[@]}" \
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
# The unpacked root filesystem: the bytes of the files in the two layers (what a node's disk holds
# once the image is pulled); the archive holds the layers gzip-compressed (what a node downloads).
layer_bytes() { tar -tvf "$1" | awk '{ s += $3 } END { printf "%d", s }'; }
base_bytes=$(layer_bytes "$work/base.tar"); app_bytes=$(layer_bytes "$work/app.tar")
rootfs=$((base_bytes + app_bytes))
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
log "built in $(( $(date +%s) - t0 )) s"
log "size: archive (compressed layers) $(mib "$size"); unpacked rootfs $(mib "$rootfs") = Debian $(mib "$base_bytes") + kube-ipvs layer $(mib "$app_bytes") (binary $(mib "$(stat -c %s "$work/app/usr/local/bin/kube-ipvs")"))"
echo "image kube-ipvs:$tag: $output ($(numfmt --to=iec --suffix=B "$size"), $size bytes; unpacked $(mib "$rootfs"))"
