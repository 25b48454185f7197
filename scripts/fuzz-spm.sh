#!/usr/bin/env bash
# libFuzzer targets built on a SwiftPM target (never part of CI; `scripts/fuzz.sh` runs them):
#
#   bash scripts/fuzz-spm.sh [SECONDS] [TARGET...]   default: 60 s each, kubeconfig watch-event netlink
#
# kubeconfig and watch-event fuzz KubeClient, netlink fuzzes Kernel's reply decoders. Builds that
# target and its dependencies with -sanitize=fuzzer,address into .build-fuzz (SwiftPM,
# --target: no executable, so no entry point of SwiftPM's in the way; the first build takes about
# ten minutes, later ones are incremental), links Fuzz/TARGET/*Fuzzer.swift against those objects
# with swiftc (libFuzzer supplies main), and runs it for SECONDS on its corpus (Fuzz/TARGET/corpus)
# plus a working corpus in .build-fuzz/corpus-TARGET. A crash, timeout (10 s per input) or an input
# over 2 GB stops the run and leaves crash-*/timeout-*/oom-* in .build-fuzz/artifacts: copy it into
# Fuzz/TARGET/corpus as bad-*, fix the cause, and FuzzCorpusReplayTests replays it from then on.
# The C in BoringSSL (and the system's libyaml) is not instrumented; the Swift modules are.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
case ":$PATH:" in *:/opt/swift/usr/bin:*) ;; *) [ -d /opt/swift/usr/bin ] && PATH=/opt/swift/usr/bin:$PATH ;; esac

seconds=${1:-60}; shift || true
targets=("$@"); [ ${#targets[@]} = 0 ] && targets=(kubeconfig watch-event netlink)
out=.build-fuzz
module() { case $1 in netlink) echo Kernel ;; *) echo KubeClient ;; esac; }
for m in $(for t in "${targets[@]}"; do module "$t"; done | sort -u); do
    swift build --scratch-path "$out" --target "$m" -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing
done
bin=$(swift build --scratch-path "$out" --show-bin-path)
# The C libraries Kernel's and KubeModel's objects call (libnl, libipset, libiptc, libyaml).
clibs=$(pkg-config --libs libnl-genl-3.0 libnl-route-3.0 libipset libiptc yaml-0.1)

# Every object of KubeClient's dependency closure (not of executables or tests someone built
# here), and the C module maps and headers they import.
objs=()
while IFS= read -r -d '' f; do objs+=("$f"); done < <(find "$bin" -name '*.o' -path '*.build/*' ! -path '*kube_ipvs*' ! -path '*Tests.build/*' -print0)
flags=(-I "$bin/Modules")
while IFS= read -r -d '' m; do flags+=(-Xcc "-fmodule-map-file=$m"); done < <(find "$bin" -maxdepth 2 -name module.modulemap -print0; find "$out/checkouts" Sources -name module.modulemap -print0)
while IFS= read -r -d '' d; do flags+=(-Xcc -I -Xcc "$d"); done < <(find "$out/checkouts" Sources -type d -name include -print0)
for f in $(pkg-config --cflags-only-I libnl-genl-3.0 libnl-route-3.0 libipset libiptc yaml-0.1); do flags+=(-Xcc "$f"); done

mkdir -p "$out/artifacts"
for t in "${targets[@]}"; do
    src=$(ls Fuzz/"$t"/*Fuzzer.swift)
    # (ld.gold warns about every ASan helper it cannot export; harmless.)
    swiftc -parse-as-library -sanitize=fuzzer,address -g -Onone "${flags[@]}" "$src" "${objs[@]}" -lstdc++ $clibs \
        -o "$out/fuzz-$t" 2> >(grep -v "Cannot export local symbol" >&2)
    mkdir -p "$out/corpus-$t"
    echo "== fuzz-$t for ${seconds}s"
    "$out/fuzz-$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$out/artifacts/$t-" "$out/corpus-$t" "Fuzz/$t/corpus"
done
