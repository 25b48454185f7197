#!/usr/bin/env bash
# Install what building and testing kube-ipvs needs on Debian 12. Idempotent: installs only
# missing packages, and runs `apt-get update` only when something is missing. Works as root
# without a terminal (CI=true, no stdin); as non-root it uses sudo if available.
#
# The Swift toolchain itself is expected at /opt/swift (or anywhere on PATH); this script
# adds /opt/swift/usr/bin to PATH for login shells (/etc/profile.d/swift-path.sh) and
# checks that `swift` runs. Callers that need it now: export PATH=/opt/swift/usr/bin:$PATH.
set -euo pipefail

# Build: the C libraries the kernel backends and the YAML reader link (system-library targets via
# pkg-config).
build_pkgs="libnl-3-dev libnl-genl-3-dev libnl-route-3-dev libipset-dev libiptc-dev libyaml-dev pkg-config"
# The Swift toolchain's own runtime needs on Debian 12 (usually present already).
swift_pkgs="git gcc libc6-dev libstdc++-12-dev binutils libcurl4 libxml2 libedit2 libsqlite3-0
            libncurses6 libpython3.11 tzdata zlib1g-dev uuid-dev ca-certificates"
# Tests: host netns tier (util-linux's unshare, iproute2, ipset, iptables, conntrack) and the QEMU
# guest tier (qemu, the tools copied into the initramfs, cpio/gzip to pack it, kmod's
# depmod, dash as the guest's /bin/sh, socat for guestfwd to the host).
test_pkgs="util-linux iproute2 ipset iptables conntrack ipvsadm kmod busybox-static dash cpio gzip
           qemu-system-x86 socat procps"

missing=()
for p in $build_pkgs $swift_pkgs $test_pkgs; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    [ "${status:0:2}" = ii ] || missing+=("$p")
done

sudo=()
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null && sudo=(sudo -n)
fi

if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -q </dev/null
    "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
else
    echo "install-deps: all packages present"
fi

# Swift on PATH.
if [ -x /opt/swift/usr/bin/swift ]; then
    profile=/etc/profile.d/swift-path.sh
    line='case ":$PATH:" in *:/opt/swift/usr/bin:*) ;; *) PATH=$PATH:/opt/swift/usr/bin ;; esac'
    if [ ! -f "$profile" ] || ! grep -qF "$line" "$profile"; then
        echo "$line" | "${sudo[@]}" tee "$profile" >/dev/null 2>&1 ||
            echo "install-deps: note: could not write $profile" >&2
    fi
    case ":$PATH:" in *:/opt/swift/usr/bin:*) ;; *) export PATH=$PATH:/opt/swift/usr/bin ;; esac
fi
if ! command -v swift >/dev/null; then
    echo "install-deps: error: no Swift toolchain (expected /opt/swift/usr/bin/swift)" >&2
    exit 1
fi
echo "install-deps: $(swift --version 2>&1 | head -n 1)"
