#!/usr/bin/env bash
# The node tier's guest parts, cached in $KUBE_IPVS_NODE_CACHE (default .cache/node):
#   - three image archives for containerd (`ctr -n k8s.io images import`), no registry:
#       images/kube-ipvs-<tag>.oci.tar   deploy/build-image.sh (mmdebstrap + umoci) from the release
#                                        binary, rebuilt when the binary or deploy/ changes (the
#                                        guest also tags it <tag>-node2, for the rolling update)
#       images/pause.oci.tar             localhost/kube-ipvs-pause:1, images/pause.c built statically
#       images/testbox.oci.tar           localhost/kube-ipvs-testbox:1, busybox-static (httpd, wget,
#                                        sh) + socat (UDP) and its libraries
#   - node-<key>.cpio: an initramfs layer appended to Tests/vm's base image: containerd, runc, the
#     CNI plugins (Debian's containerd, runc, containernetworking-plugins), kubelet (Tests/node/build.sh),
#     the overlay module, the images, guest/node-init.
#
#   Tests/node/build-guest.sh BINARY      prints NODE_CPIO=<path> KUBE_IPVS_TAG=<tag> KUBE_IPVS_TAG2=<tag>
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${KUBE_IPVS_NODE_CACHE:-$repo/.cache/node}
vmcache=${KUBE_IPVS_VM_CACHE:-$repo/.cache/vm}
apicache=${KUBE_IPVS_APISERVER_CACHE:-$repo/.cache/apiserver}
binary=${1:?usage: build-guest.sh BINARY}
log() { echo "node-build-guest: $*" >&2; }
die() { echo "node-build-guest: error: $*" >&2; exit 1; }
mkdir -p "$cache/images" "$cache/debs"
exec 9>"$cache/.lock"
flock 9
# shellcheck disable=SC1091
. "$apicache/node-env"   # KUBELET_BIN ...

# oci_archive NAME:TAG ROOTDIR OUTPUT ENTRYPOINT...: a one-layer image of ROOTDIR, named NAME:TAG.
oci_archive() {
    local ref=$1 rootdir=$2 out=$3; shift 3
    local tag=${ref##*:} w
    w=$(mktemp -d /tmp/kube-ipvs-oci.XXXXXX)
    tar -C "$rootdir" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$w/layer.tar" .
    umoci init --layout "$w/oci"
    umoci new --image "$w/oci:$tag"
    umoci raw add-layer --image "$w/oci:$tag" "$w/layer.tar"
    local ep=() a
    for a in "$@"; do ep+=(--config.entrypoint "$a"); done
    umoci config --image "$w/oci:$tag" --os linux --architecture amd64 "${ep[@]}" \
        --config.env 'PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin'
    umoci gc --layout "$w/oci"
    jq --arg n "$ref" '.manifests |= map(.annotations["io.containerd.image.name"] = $n)' \
        "$w/oci/index.json" >"$w/index.json" && mv "$w/index.json" "$w/oci/index.json"
    tar -C "$w/oci" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$out.tmp" .
    mv "$out.tmp" "$out"
    rm -rf "$w"
}

# --- the test images ---------------------------------------------------------------------------
pause=$cache/images/pause.oci.tar
if [ ! -f "$pause" ] || [ "$here/images/pause.c" -nt "$pause" ]; then
    r=$(mktemp -d); mkdir -p "$r/bin"
    gcc -static -O2 -o "$r/bin/pause" "$here/images/pause.c" || die "gcc -static pause.c failed (libc6-dev)"
    strip "$r/bin/pause"
    oci_archive localhost/kube-ipvs-pause:1 "$r" "$pause" /bin/pause
    rm -rf "$r"; log "pause image: $(du -h "$pause" | cut -f1)"
fi
testbox=$cache/images/testbox.oci.tar
if [ ! -f "$testbox" ] || [ "$here/build-guest.sh" -nt "$testbox" ]; then
    r=$(mktemp -d); mkdir -p "$r/bin" "$r/usr/bin" "$r/etc" "$r/tmp" "$r/www"
    chmod 1777 "$r/tmp"
    cp /bin/busybox "$r/bin/busybox"
    for app in $(/bin/busybox --list); do [ "$app" = busybox ] || ln -sf busybox "$r/bin/$app"; done
    cp /usr/bin/socat "$r/usr/bin/socat"
    ldd /usr/bin/socat | awk '/=> \// {print $3} /^[[:space:]]*\/lib/ {print $1}' | while read -r lib; do
        mkdir -p "$r$(dirname "$lib")"; cp -L "$lib" "$r$lib"
    done
    printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$r/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
    cp /etc/protocols /etc/services "$r/etc/"
    oci_archive localhost/kube-ipvs-testbox:1 "$r" "$testbox" /bin/sh
    rm -rf "$r"; log "testbox image: $(du -h "$testbox" | cut -f1)"
fi

# --- the kube-ipvs image: deploy/build-image.sh, rebuilt when its inputs change ------------------
tag=$(sed -n 's/^ *image: kube-ipvs:\([^ ]*\) *$/\1/p' "$repo/deploy/daemonset.yaml" | head -n 1)
[ -n "$tag" ] || die "no kube-ipvs:TAG image in deploy/daemonset.yaml"
tag2=$tag-node2
img=$cache/images/kube-ipvs-$tag.oci.tar
ikey=$( { sha256sum "$binary" | cut -d' ' -f1; cat "$repo"/deploy/*; } | sha256sum | cut -c1-16)
if [ ! -f "$img" ] || [ "$(cat "$img.key" 2>/dev/null)" != "$ikey" ]; then
    log "building the kube-ipvs image (deploy/build-image.sh)"
    bash "$repo/deploy/build-image.sh" --binary "$binary" --tag "$tag" --output "$img" >&2
    echo "$ikey" >"$img.key"
fi
# --- Debian packages for the guest ------------------------------------------------------------
debs="containerd runc containernetworking-plugins libseccomp2"
for p in $debs; do
    ls "$cache/debs/${p}"_*.deb >/dev/null 2>&1 && continue
    log "apt-get download $p"
    (cd "$cache/debs" && apt-get -o APT::Sandbox::User=root download -q "$p" >&2) ||
        { apt-get update -q >&2; (cd "$cache/debs" && apt-get -o APT::Sandbox::User=root download -q "$p" >&2); } ||
        die "apt-get download $p failed"
done

# --- the node layer -------------------------------------------------------------------------
kdir=$(ls -d "$vmcache"/kernel-* | tail -n 1)
kver=${kdir##*/kernel-}
key=$( { cat "$here/build-guest.sh" "$here/guest/node-init"; ls -l "$cache"/debs/*.deb; sha256sum "$KUBELET_BIN" | cut -d' ' -f1;
         cat "$pause.key" 2>/dev/null; cat "$img.key"; stat -c %Y "$pause" "$testbox"; echo "$kver"; } | sha256sum | cut -c1-16)
out=$cache/node-$key.cpio
if [ ! -f "$out" ]; then
    log "building the node layer ($key)"
    r=$(mktemp -d "$cache/.root.XXXXXX")
    trap 'rm -rf "$r"' EXIT
    for p in $debs; do dpkg-deb -x "$(ls "$cache"/debs/"${p}"_*.deb | tail -n 1)" "$r/deb"; done
    mkdir -p "$r/root/usr/bin" "$r/root/usr/sbin" "$r/root/usr/lib/cni" "$r/root/usr/lib/x86_64-linux-gnu" \
             "$r/root/vm/images" "$r/root/usr/lib/modules/$kver/extra" "$r/root/etc/cni/net.d" "$r/root/etc/containerd"
    for b in containerd containerd-shim-runc-v2 ctr; do cp "$r/deb/usr/bin/$b" "$r/root/usr/bin/"; done
    cp "$r/deb/usr/sbin/runc" "$r/root/usr/sbin/runc"
    for p in bridge host-local loopback; do cp "$r/deb/usr/lib/cni/$p" "$r/root/usr/lib/cni/"; done
    cp -a "$r"/deb/usr/lib/x86_64-linux-gnu/libseccomp.so.2* "$r/root/usr/lib/x86_64-linux-gnu/"
    install -m 0755 "$KUBELET_BIN" "$r/root/usr/bin/kubelet"
    cp "$kdir/lib/modules/$kver/kernel/fs/overlayfs/overlay.ko" "$r/root/usr/lib/modules/$kver/extra/"
    cp "$pause" "$testbox" "$img" "$r/root/vm/images/"
    install -m 0755 "$here/guest/node-init" "$r/root/init"
    strip "$r"/root/usr/bin/* "$r"/root/usr/sbin/runc 2>/dev/null || true
    (cd "$r/root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$out.tmp"
    mv "$out.tmp" "$out"
    for old in "$cache"/node-*.cpio; do [ "$old" = "$out" ] || rm -f "$old"; done
    log "node layer $(du -h "$out" | cut -f1)"
fi
echo "NODE_CPIO=$out"
echo "KUBE_IPVS_TAG=$tag"
echo "KUBE_IPVS_TAG2=$tag2"
