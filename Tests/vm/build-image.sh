#!/usr/bin/env bash
# Build (or reuse) the guest's kernel and base initramfs for the QEMU tier.
#
# Usage: Tests/vm/build-image.sh            prints two lines: KERNEL=<path> BASE_INITRD=<path>
#        Tests/vm/build-image.sh --force    rebuild the base initramfs even if cached
#
# Everything lands in .cache/vm/ (git-ignored):
#   debs/                    the downloaded Debian cloud kernel package
#   kernel-<ver>/            that package unpacked (vmlinuz + modules)
#   base-<key>.cpio.gz       busybox, iproute2, ipvsadm, ipset, iptables (legacy + nft), socat,
#                            their libraries and the kernel modules, keyed by this script and
#                            the versions of the packages it copies from
# The per-run parts (/init, test scripts, the kube-ipvs binary) are a second cpio archive
# appended by Tests/vm/run.sh, so editing a test never rebuilds this image.
#
# Environment: KUBE_IPVS_VM_CACHE (default <repo>/.cache/vm),
#              KUBE_IPVS_VM_KERNEL_PKG (default: what linux-image-cloud-amd64 depends on).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${KUBE_IPVS_VM_CACHE:-$repo/.cache/vm}
force=0
[ "${1:-}" = --force ] && force=1
mkdir -p "$cache/debs"

log() { echo "build-image: $*" >&2; }
die() { echo "build-image: error: $*" >&2; exit 1; }

# Serialise concurrent builders (several engineers share one checkout).
exec 9>"$cache/.lock"
flock 9

# ---------------------------------------------------------------- kernel package
kpkg=${KUBE_IPVS_VM_KERNEL_PKG:-}
cloud_kernel() {
    apt-cache depends linux-image-cloud-amd64 2>/dev/null |
        awk '/Depends: linux-image-[0-9]/ {print $2; exit}'
}
if [ -z "$kpkg" ]; then
    kpkg=$(cloud_kernel) || true
fi
if [ -z "$kpkg" ] && ! ls "$cache"/debs/linux-image-*-cloud-amd64_*.deb >/dev/null 2>&1; then
    log "no apt lists for linux-image-cloud-amd64; running apt-get update"
    apt-get update -q >/dev/null 2>&1 || true
    kpkg=$(cloud_kernel) || true
fi
if [ -z "$kpkg" ]; then
    # No apt lists yet (fresh machine): fall back to a kernel we already have.
    kpkg=$(ls "$cache"/debs/linux-image-*-cloud-amd64_*.deb 2>/dev/null | tail -n1 |
        xargs -r -n1 basename | cut -d_ -f1) || true
fi
[ -n "$kpkg" ] || die "cannot find the cloud kernel package (apt-get update, then retry)"
kdeb=$(ls "$cache"/debs/"${kpkg}"_*.deb 2>/dev/null | tail -n1 || true)
if [ -z "$kdeb" ]; then
    log "downloading $kpkg"
    tmpd=$(mktemp -d "$cache/debs/.dl.XXXXXX")
    chmod 0777 "$tmpd" # apt's _apt user writes there when sandboxed
    if ! (cd "$tmpd" && apt-get download -q "$kpkg" >/dev/null 2>&1); then
        log "apt-get download failed; running apt-get update and retrying"
        apt-get update -q >/dev/null
        (cd "$tmpd" && apt-get download -q "$kpkg" >/dev/null) || die "apt-get download $kpkg failed"
    fi
    mv "$tmpd"/*.deb "$cache/debs/"
    rmdir "$tmpd"
    kdeb=$(ls "$cache"/debs/"${kpkg}"_*.deb | tail -n1)
fi
kver=${kpkg#linux-image-}
kdir=$cache/kernel-$kver
if [ ! -f "$kdir/.done" ]; then
    log "unpacking $(basename "$kdeb")"
    rm -rf "$kdir"
    dpkg-deb -x "$kdeb" "$kdir"
    touch "$kdir/.done"
fi
kernel=$kdir/boot/vmlinuz-$kver
[ -f "$kernel" ] || die "no vmlinuz in $kdeb"

# ---------------------------------------------------------------- cache key
tool_pkgs="busybox-static dash iproute2 ipvsadm ipset iptables libc6 kmod socat"
versions=$(dpkg-query -W -f='${Package}=${Version}\n' $tool_pkgs 2>/dev/null) ||
    die "missing packages (run scripts/install-deps.sh): $tool_pkgs"
key=$( { cat "$here/build-image.sh"; echo "$kpkg $(basename "$kdeb")"; echo "$versions"; } |
    sha256sum | cut -c1-16)
base=$cache/base-$key.cpio.gz
if [ -f "$base" ] && [ "$force" = 0 ]; then
    echo "KERNEL=$kernel"
    echo "BASE_INITRD=$base"
    exit 0
fi

# ---------------------------------------------------------------- staging root
log "building base initramfs ($kver, key $key)"
root=$(mktemp -d "$cache/.root.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{usr/bin,usr/sbin,usr/lib/x86_64-linux-gnu,usr/lib64,usr/local/bin,etc,proc,sys,dev,run,tmp,root,var,srv,mnt}
ln -s usr/bin "$root/bin"
ln -s usr/sbin "$root/sbin"
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"
ln -s ../run "$root/var/run"
chmod 1777 "$root/tmp"

# copy_libs FILE...: the shared libraries (and loader) that ldd lists, into the root.
copy_libs() {
    local f lib
    for f in "$@"; do
        ldd "$f" 2>/dev/null | awk '/=> \// {print $3} /^[[:space:]]*\/lib/ {print $1}' |
            while read -r lib; do
                [ -e "$root$lib" ] && continue
                mkdir -p "$root$(dirname "$lib")"
                cp -L "$lib" "$root$lib"
            done
    done
}
# install_bin HOSTPATH GUESTPATH: a dynamically linked tool plus its libraries.
install_bin() {
    local src dst
    src=$(readlink -f "$1")
    dst=$2
    [ -x "$src" ] || die "missing $1 (run scripts/install-deps.sh)"
    mkdir -p "$root$(dirname "$dst")"
    cp "$src" "$root$dst"
    copy_libs "$src"
}

# Real tools (the dry-run script and the tests use their full syntax).
install_bin /bin/ip /usr/bin/ip                       # iproute2: `type dummy`, netns, -n
install_bin /usr/sbin/ipvsadm /usr/sbin/ipvsadm
install_bin /usr/sbin/ipset /usr/sbin/ipset
install_bin /usr/sbin/xtables-legacy-multi /usr/sbin/xtables-legacy-multi
install_bin /usr/sbin/xtables-nft-multi /usr/sbin/xtables-nft-multi
install_bin /bin/kmod /usr/bin/kmod                   # modprobe that understands aliases
# socat: UDP servers and clients for the traffic tests (busybox's nc is TCP only and has
# no udpsvd); a UDP4-RECVFROM,fork server answers every datagram.
install_bin /usr/bin/socat /usr/bin/socat
# /bin/sh is dash: Debian's static busybox prefers its own applets inside its shell, which
# would run busybox `ip` instead of iproute2's.
install_bin /bin/dash /usr/bin/dash
ln -s dash "$root/usr/bin/sh"
for l in modprobe insmod rmmod lsmod modinfo depmod; do ln -s ../bin/kmod "$root/usr/sbin/$l"; done
# iptables is legacy in the guest: libiptc (the daemon's iptables backend) writes legacy
# tables, and `iptables-save` must show what it wrote. The nft flavour stays reachable as
# iptables-nft*.
for fam in iptables ip6tables; do
    for s in "" -save -restore; do
        ln -s xtables-legacy-multi "$root/usr/sbin/$fam$s"
        ln -s xtables-legacy-multi "$root/usr/sbin/$fam-legacy$s"
        ln -s xtables-nft-multi "$root/usr/sbin/$fam-nft$s"
    done
done
ln -s xtables-legacy-multi "$root/usr/sbin/iptables-xml"
xt=/usr/lib/x86_64-linux-gnu/xtables
mkdir -p "$root$xt"
cp "$xt"/*.so "$root$xt/"
copy_libs "$xt"/*.so

# busybox for everything else (sh, httpd, wget, sysctl, timeout, ...), never shadowing a
# real tool installed above.
cp /bin/busybox "$root/usr/bin/busybox"
for app in $(/bin/busybox --list-full); do
    name=${app##*/}
    [ "$name" = busybox ] && continue
    if [ -e "$root/usr/bin/$name" ] || [ -e "$root/usr/sbin/$name" ] || [ -L "$root/usr/sbin/$name" ]; then
        continue
    fi
    case $app in
        sbin/*|usr/sbin/*) ln -s ../bin/busybox "$root/usr/sbin/$name" ;;
        *) ln -s busybox "$root/usr/bin/$name" ;;
    esac
done

# /etc: ipset needs protocols to parse `tcp:80`; the rest keeps tools quiet.
cp /etc/protocols /etc/services "$root/etc/"
[ -f /etc/ethertypes ] && cp /etc/ethertypes "$root/etc/"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files\n' >"$root/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
echo kube-ipvs-vm >"$root/etc/hostname"
mkdir -p "$root/etc/iproute2"
cp -r /etc/iproute2/. "$root/etc/iproute2/" 2>/dev/null || true

# ---------------------------------------------------------------- kernel modules
msrc=$kdir/lib/modules/$kver
mdst=$root/usr/lib/modules/$kver
mkdir -p "$mdst/kernel/drivers/net"
cp -r "$msrc/kernel/net" "$msrc/kernel/lib" "$msrc/kernel/crypto" "$mdst/kernel/"
mkdir -p "$mdst/kernel/arch/x86"
cp -r "$msrc/kernel/arch/x86/crypto" "$mdst/kernel/arch/x86/"
cp -r "$msrc/kernel/drivers/virtio" "$mdst/kernel/drivers/"
for m in dummy veth virtio_net net_failover macvlan ipvlan vxlan; do
    f=$(find "$msrc/kernel/drivers/net" -name "$m.ko" | head -n1)
    [ -n "$f" ] || continue
    d=$mdst/${f#"$msrc"/}
    mkdir -p "$(dirname "$d")"
    cp "$f" "$d"
done
# Wireless and other bulky protocol families nobody here needs.
rm -rf "$mdst/kernel/net/"{wireless,mac80211,bluetooth,nfc,ceph,sunrpc,rxrpc,rds,tipc,9p,smc,dccp,l2tp,atm,can,ieee802154,mac802154,x25,rose,netrom,ax25,appletalk,batman-adv,mpls,openvswitch,qrtr,vmw_vsock}
cp "$msrc"/modules.builtin* "$msrc"/modules.order "$mdst/" 2>/dev/null || true
depmod -b "$root" "$kver" || die "depmod failed"

# ---------------------------------------------------------------- archive
tmp=$(mktemp "$cache/.base.XXXXXX")
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -6 >"$tmp"
chmod 0644 "$tmp"
mv "$tmp" "$base"
# Keep only the newest base image.
for old in "$cache"/base-*.cpio.gz; do
    [ "$old" = "$base" ] || rm -f "$old"
done
log "base initramfs $(du -h "$base" | cut -f1) at $base"
echo "KERNEL=$kernel"
echo "BASE_INITRD=$base"
