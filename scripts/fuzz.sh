#!/usr/bin/env bash
# libFuzzer targets (never part of CI): the manifest loader (manifest), the API-object decoding
# (objects), the kubeconfig parser (kubeconfig), watch events (watch-event) and the netlink reply
# decoders (netlink):
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]     default: 60 s each, every target
#
# manifest and objects are built here; the others by scripts/fuzz-spm.sh (their modules need
# SwiftPM's build of their dependencies).
#
# Builds Fuzz/<Target>Fuzzer.swift with CYaml, Yams and KubeModel compiled from source with
# -sanitize=fuzzer,address (coverage and AddressSanitizer in the code under test; SwiftPM has no
# per-target sanitizer setting), into .build-fuzz/, then runs each for SECONDS with its corpus
# (Fuzz/corpus/TARGET, seeds and every crash found) and a working corpus in .build-fuzz/corpus.
# A crash, leak, timeout (10 s per input) or an input over 2 GB of memory stops the run and
# leaves crash-*/timeout-*/oom-* in .build-fuzz/artifacts: copy it into Fuzz/corpus/TARGET,
# fix the cause, and the unit test FuzzCorpusTests replays it from then on.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
case ":$PATH:" in *:/opt/swift/usr/bin:*) ;; *) [ -d /opt/swift/usr/bin ] && PATH=/opt/swift/usr/bin:$PATH ;; esac

seconds=${1:-60}; shift || true
targets=("$@"); [ ${#targets[@]} = 0 ] && targets=(manifest objects kubeconfig watch-event netlink)
here=() spm=()
for t in "${targets[@]}"; do case $t in manifest|objects) here+=("$t") ;; *) spm+=("$t") ;; esac; done
[ ${#spm[@]} -gt 0 ] && bash scripts/fuzz-spm.sh "$seconds" "${spm[@]}"
[ ${#here[@]} = 0 ] && exit 0
targets=("${here[@]}")
yams=$repo/${KUBE_IPVS_SCRATCH:-.build}/checkouts/Yams/Sources
[ -d "$yams" ] || { echo "fuzz.sh: $yams missing: run swift build once (it fetches Yams)" >&2; exit 1; }

out=.build-fuzz
mkdir -p "$out/obj" "$out/modules" "$out/artifacts"
san=(-sanitize=fuzzer,address -Onone -g -DSWIFT_PACKAGE)
modmap=(-Xcc -fmodule-map-file="$yams/CYaml/include/module.modulemap" -Xcc -I -Xcc "$yams/CYaml/include")

# CYaml (C), then Yams and KubeModel (Swift), each instrumented; rebuilt every run (about a minute).
for c in "$yams"/CYaml/src/*.c; do
    clang -c -O1 -g -fsanitize=fuzzer-no-link,address -DYAML_DECLARE_STATIC -I "$yams/CYaml/include" \
        "$c" -o "$out/obj/cyaml-$(basename "$c" .c).o"
done
build_module() {  # NAME SOURCES...
    local name=$1; shift
    (cd "$out/obj" && swiftc -parse-as-library -module-name "$name" -emit-module -emit-module-path "../modules/$name.swiftmodule" \
        -wmo -c "${san[@]}" -I ../modules "${modmap[@]}" "$@")
}
build_module Yams "$yams"/Yams/*.swift
build_module KubeModel "$repo"/Sources/KubeModel/*.swift

for t in "${targets[@]}"; do
    name=$(tr '[:lower:]' '[:upper:]' <<<"${t:0:1}")${t:1}
    # (ld.gold warns about every ASan helper it cannot export; harmless.)
    swiftc -parse-as-library "${san[@]}" -I "$out/modules" "${modmap[@]}" "Fuzz/${name}Fuzzer.swift" \
        "$out"/obj/*.o -o "$out/fuzz-$t" 2> >(grep -v "Cannot export local symbol" >&2)
    mkdir -p "$out/corpus/$t" "Fuzz/corpus/$t"
    echo "== fuzz-$t for ${seconds}s"
    "$out/fuzz-$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$out/artifacts/$t-" "$out/corpus/$t" "Fuzz/corpus/$t"
done
