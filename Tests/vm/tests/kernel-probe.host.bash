#!/usr/bin/env bash
# Shared host side of the kernel backend guest tests (2*-*.sh): puts the kernel-probe test driver
# (Sources/kernel-probe, release, static Swift stdlib) and the C libraries it links (libnl,
# libipset, ...) into $OUT, the test's /vm/data/<name> directory in the guest. The guest script
# runs it as `LD_LIBRARY_PATH=$VM_DATA/lib $VM_DATA/kernel-probe`.
#
# Env: OUT and REPO (from Tests/vm/run.sh); KERNEL_PROBE_BIN, a ready binary to use instead of
# building; KUBE_IPVS_SCRATCH (default .build) whose "-guest" sibling is the scratch path (the
# one Tests/vm/run.sh builds the guest kube-ipvs in: same flags, so the modules are shared).
set -euo pipefail
cd "$REPO"
bin=${KERNEL_PROBE_BIN:-}
if [ -z "$bin" ]; then
    scratch=${KUBE_IPVS_SCRATCH:-.build}
    scratch=${scratch%/}-guest
    log=$(cd "$OUT/../../.." && pwd)/kernel-probe-build.log  # the run directory, not the guest
    # Several hooks run one after another; only the first one compiles anything.
    if ! swift build -c release --static-swift-stdlib --scratch-path "$scratch" --product kernel-probe >"$log" 2>&1; then
        tail -n 30 "$log"
        echo "building kernel-probe failed"
        exit 1
    fi
    bin=$scratch/release/kernel-probe
fi
# Stripped: the symbols of the static Swift stdlib triple the initramfs for nothing.
strip -o "$OUT/kernel-probe" "$bin"
mkdir -p "$OUT/lib"
ldd "$bin" | awk '/=> \// {print $3}' | while read -r lib; do
    case $(basename "$lib") in libc.so*|libm.so*|ld-linux*|libpthread.so*|libdl.so*|librt.so*) continue ;; esac
    cp -L "$lib" "$OUT/lib/"
done
