#!/usr/bin/env bash
# The whole test suite (the README's test command; CI runs it through .ci/run):
#
#   bash scripts/test.sh [unit] [netns] [vm]      default: all three tiers, in this order
#
#   unit   `swift test` (XCTest and Swift Testing), without the NetNS tests; then the loop-thread
#          test once more on one CPU (taskset -c 0), where Swift's pool has a single thread
#   netns  real host kernel in throwaway network namespaces: ipset/iptables backends
#          (Tests/netns/run.sh; skipped with a message when not root)
#   vm     a QEMU guest (Debian cloud kernel, TCG) with IPVS: Tests/vm/run.sh
#
# It installs missing Debian packages first (scripts/install-deps.sh) and builds once.
# Environment: KUBE_IPVS_SCRATCH (default .build) is the swift --scratch-path, so that
# several people can test one checkout at once; the guest binary, when a guest test needs
# it, goes to ${KUBE_IPVS_SCRATCH}-guest. Logs: .cache/test-logs/<scratch>/.
# Prints one line per tier ("unit: N passed, N failed, N skipped") and, last, the totals
# "N passed, N failed, N skipped". Exit status 1 on any failure.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
case ":$PATH:" in *:/opt/swift/usr/bin:*) ;; *) [ -d /opt/swift/usr/bin ] && PATH=/opt/swift/usr/bin:$PATH ;; esac
export PATH
export KUBE_IPVS_SCRATCH=${KUBE_IPVS_SCRATCH:-.build}
scratch=$KUBE_IPVS_SCRATCH

tiers=("$@")
[ ${#tiers[@]} = 0 ] && tiers=(unit netns vm)
for t in "${tiers[@]}"; do
    case $t in unit|netns|vm) ;; *) echo "usage: $0 [unit] [netns] [vm]" >&2; exit 2 ;; esac
done

logs=$repo/.cache/test-logs/$(basename "$scratch")
mkdir -p "$logs"
. "$repo/Tests/netns/lib/swift-counts.sh"

declare -A tp tf ts tsecs
order=()
timings=()
now() { date +%s; }
banner() { echo; echo "== $*"; }
# tier_result NAME P F S SECS
tier_result() {
    order+=("$1"); tp[$1]=$2; tf[$1]=$3; ts[$1]=$4; tsecs[$1]=$5
    timings+=("$1 ${5}s")
}
finish() {
    local P=0 F=0 S=0 name total=$(( $(now) - t0 ))
    banner "summary (scratch path $scratch; logs in ${logs#"$repo"/})"
    for name in "${order[@]}"; do
        echo "$name: ${tp[$name]} passed, ${tf[$name]} failed, ${ts[$name]} skipped"
        P=$((P + tp[$name])); F=$((F + tf[$name])); S=$((S + ts[$name]))
    done
    local joined
    joined=$(printf '%s, ' "${timings[@]}")
    echo "time: ${joined}total ${total}s"
    echo "$P passed, $F failed, $S skipped"
    [ "$F" = 0 ]
    exit $?
}
# last_summary FILE PREFIX: "P F S" from the runner's "PREFIX: N passed, N failed, N skipped".
last_summary() {
    sed -n "s/^$2: \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped\$/\1 \2 \3/p" "$1" | tail -n 1
}

# shell_tier NAME RUNNER: runs a shell tier's runner, counts its "NAME: N passed, ..." line.
shell_tier() {
    banner "$1 ($2)"
    bash "$2" 2>&1 | tee "$logs/$1.log"
    read -r p f k < <(last_summary "$logs/$1.log" "$1"; echo)
    [ -n "${p:-}" ] || { p=0 f=1 k=0; echo "$1: the runner ended without a summary"; }
    tier_result "$1" "$p" "$f" "$k" $(( $(now) - s ))
}

t0=$(now)

# ---------------------------------------------------------------- dependencies and build
banner "dependencies"
s=$(now)
if ! bash scripts/install-deps.sh </dev/null; then
    tier_result deps 0 1 0 $(( $(now) - s ))
    finish
fi
timings+=("deps $(( $(now) - s ))s")

banner "build (swift build --build-tests --scratch-path $scratch)"
s=$(now)
if ! swift build --build-tests --scratch-path "$scratch" >"$logs/build.log" 2>&1; then
    grep -E "error:" "$logs/build.log" | awk '!seen[$0]++' | head -n 40
    echo "(full log: ${logs#"$repo"/}/build.log)"
    tier_result build 0 1 0 $(( $(now) - s ))
    finish
fi
tail -n 1 "$logs/build.log"
timings+=("build $(( $(now) - s ))s")

for tier in "${tiers[@]}"; do
    s=$(now)
    case $tier in
    unit)
        banner "unit (swift test --skip NetNS)"
        swift test --skip-build --scratch-path "$scratch" --skip NetNS >"$logs/unit.log" 2>&1
        rc=$?
        read -r p f k < <(swift_test_counts "$logs/unit.log")
        # Again on one CPU, where Swift's pool has one thread: a loop that blocked that thread
        # would starve every other task, which this test sees only there.
        if command -v taskset >/dev/null; then
            taskset -c 0 swift test --skip-build --scratch-path "$scratch" \
                --filter ProxyLoopThreadTests.testATaskStartedDuringABusyApplyRuns >"$logs/unit-1cpu.log" 2>&1
            rc1=$?
            read -r p1 f1 k1 < <(swift_test_counts "$logs/unit-1cpu.log")
            [ $rc1 != 0 ] && [ "$f1" = 0 ] && f1=1
            [ "$f1" != 0 ] && { echo "on one CPU (taskset -c 0):"; grep -E "error: |Test Case .* failed" "$logs/unit-1cpu.log"; }
            p=$((p + p1)) f=$((f + f1)) k=$((k + k1))
        fi
        if [ $rc != 0 ] && [ "$f" = 0 ]; then
            f=1
            echo "swift test exited with status $rc before reporting a failure (crash?):"
            tail -n 30 "$logs/unit.log"
        fi
        if [ "$f" != 0 ]; then
            grep -E "error: |Test Case .* failed|recorded an issue|failed after|Fatal error" "$logs/unit.log" | head -n 80
        fi
        echo "unit: $p passed, $f failed, $k skipped (log: ${logs#"$repo"/}/unit.log)"
        tier_result unit "$p" "$f" "$k" $(( $(now) - s ))
        ;;
    netns|vm)
        shell_tier "$tier" "Tests/$tier/run.sh"
        ;;
    esac
done
finish
