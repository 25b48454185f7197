#!/usr/bin/env bash
# The host network-namespace tier: real-kernel tests of the ipset, iptables and conntrack
# backends, each inside a fresh `unshare --net` namespace (Tests/netns/run-in-netns.sh).
#
# Usage: Tests/netns/run.sh [--no-swift] [--no-shell]
#   1. shell tests Tests/netns/tests/*.sh, one namespace each
#      (exit 0 = pass, 77 = skip with the reason on the last output line, else fail);
#   2. the Swift tests whose names contain "NetNS", run in one namespace with
#      KUBE_IPVS_NETNS=1 (`swift test --skip-build --filter NetNS`; built first if needed).
# Afterwards the machine's own namespace is compared with a snapshot taken before: links,
# addresses, KUBE ipsets and KUBE iptables rules must be unchanged.
# Environment: KUBE_IPVS_SCRATCH (default .build) is the swift --scratch-path.
# Last line: "netns: N passed, N failed, N skipped"; exit 1 on any failure.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
scratch=${KUBE_IPVS_SCRATCH:-.build}
run_swift=1 run_shell=1
for a in "$@"; do
    case $a in
        --no-swift) run_swift=0 ;;
        --no-shell) run_shell=0 ;;
        *) echo "usage: $0 [--no-swift] [--no-shell]" >&2; exit 2 ;;
    esac
done
. "$here/lib/swift-counts.sh"

RESULTS_TIER=netns
. "$here/../lib/results.sh"

shell_tests=()
[ "$run_shell" = 1 ] && for f in "$here"/tests/*.sh; do [ -f "$f" ] && shell_tests+=("$f"); done

if [ "$(id -u)" != 0 ]; then
    echo "netns: skipped: not root, cannot create network namespaces (run as root to test the ipset/iptables backends against the kernel)"
    for f in "${shell_tests[@]}"; do result SKIP "$(basename "$f" .sh)" "not root"; done
    [ "$run_swift" = 1 ] && result SKIP "swift NetNS tests" "not root"
    summary
fi

# host_snapshot: the parts of the machine's own namespace that tests must never change.
host_snapshot() {
    ip -o link show 2>&1 | sed 's/ qlen [0-9]*//' | awk '{print $2}' | sort
    ip -o addr show 2>&1 | awk '{print $2, $3, $4}' | sort
    ipset list -n 2>&1 | sort
    for s in iptables-save iptables-legacy-save iptables-nft-save; do
        command -v "$s" >/dev/null && "$s" 2>/dev/null | grep KUBE | sed 's/\[[0-9]*:[0-9]*\]//' | sort
    done
}
before=$(host_snapshot)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---------------------------------------------------------------- shell tests
for f in "${shell_tests[@]}"; do
    name=$(basename "$f" .sh)
    start=$(date +%s)
    bash "$here/run-in-netns.sh" bash "$f" >"$tmp/$name.log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    case $rc in
        0) result PASS "$name" ;;
        77) result SKIP "$name" "$(grep -v '^[[:space:]]*$' "$tmp/$name.log" | tail -n 1)" ;;
        *) result FAIL "$name" "exit $rc after ${secs}s"
           sed 's/^/    | /' "$tmp/$name.log" ;;
    esac
done

# ---------------------------------------------------------------- Swift NetNS tests
if [ "$run_swift" = 1 ]; then
    if ! swift build --build-tests --scratch-path "$scratch" >"$tmp/build.log" 2>&1; then
        result FAIL "swift NetNS tests" "build failed"
        tail -n 40 "$tmp/build.log" | sed 's/^/    | /'
    else
        bash "$here/run-in-netns.sh" swift test --skip-build --scratch-path "$scratch" --filter NetNS >"$tmp/swift.log" 2>&1
        rc=$?
        read -r p f s < <(swift_test_counts "$tmp/swift.log")
        if [ $rc = 77 ]; then
            result SKIP "swift NetNS tests" "$(tail -n 1 "$tmp/swift.log")"
        else
            if [ $rc != 0 ] && [ "$f" = 0 ]; then f=1; fi   # crashed before its summary
            for _ in $(seq 1 "$p"); do npass=$((npass + 1)); done
            for _ in $(seq 1 "$s"); do nskip=$((nskip + 1)); done
            nfail=$((nfail + f))
            echo "  swift NetNS tests: $p passed, $f failed, $s skipped"
            if [ "$f" != 0 ]; then
                grep -E "error:|failed|recorded an issue|Fatal error|Test skipped" "$tmp/swift.log" | head -n 60 | sed 's/^/    | /'
            fi
        fi
    fi
fi

# ---------------------------------------------------------------- host untouched
after=$(host_snapshot)
if [ "$before" = "$after" ]; then
    result PASS "host-namespace-untouched"
else
    result FAIL "host-namespace-untouched" "the machine's own network namespace changed during the tier"
    diff <(echo "$before") <(echo "$after") | sed 's/^/    | /'
fi
summary
