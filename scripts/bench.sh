#!/bin/bash
# Benchmarks of issue 7. Part (a): the pure core — desired state + diff + plan from an empty node,
# as `kube-ipvs sync` and the daemon's first full sync compute it — for N = 1k, 10k, 50k Services
# x M = 10 endpoints, median of R runs, release build, on this host. Prints a table with each
# target met or not and rewrites the results block of docs/benchmarks.md (machine, date, commit).
# Never a test: scripts/test.sh does not run it, and a missed target does not fail it.
# Parts (b)-(d) (kernel programming, one-change latency, RSS in the QEMU guest) are not here yet;
# see docs/benchmarks.md.
#   bash scripts/bench.sh [--runs R] [--no-write]
# KUBE_IPVS_SCRATCH (default .build) selects the swift --scratch-path.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=${KUBE_IPVS_SCRATCH:-.build}
runs=7
write=1
while [ $# -gt 0 ]; do
    case $1 in
        --runs) runs=$2; shift ;;
        --no-write) write=0 ;;
        *) echo "usage: $0 [--runs R] [--no-write]" >&2; exit 2 ;;
    esac
    shift
done
target_ms=100   # (a): 10k x 10 planned in at most 100 ms

swift build -c release --product kube-ipvs-bench --scratch-path "$scratch" >&2
out=$("$scratch/release/kube-ipvs-bench" 1000 10000 50000 --endpoints 10 --runs "$runs")

table="| Services x endpoints | build (ms) | plan (ms) | total, median (ms) | total, min (ms) | operations | target |
|---|---:|---:|---:|---:|---:|---|"
while IFS=$'\t' read -r n m build plan total min ops; do
    [ "$n" = N ] && continue
    target="—"
    if [ "$n" = 10000 ]; then
        if awk "BEGIN { exit !($total <= $target_ms) }"; then target="met (≤ $target_ms ms)"; else target="NOT met (> $target_ms ms)"; fi
    fi
    table+="
| $n x $m | $build | $plan | $total | $min | $ops | $target |"
done <<<"$out"

commit=$(git rev-parse --short HEAD)
git diff --quiet HEAD -- Sources Package.swift || commit+=" (with uncommitted changes)"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
machine="$(nproc) CPUs ($cpu), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r), $(swift --version 2>/dev/null | head -1)"
load=$(cut -d' ' -f1-3 /proc/loadavg)
results="Measured $(date -u '+%Y-%m-%d %H:%M UTC') at commit $commit with \`bash scripts/bench.sh --runs $runs\`.
Machine: $machine; load average before the run: $load.

$table"

echo
echo "(a) pure computation, median of $runs runs (target: 10k x 10 in at most $target_ms ms)"
echo "$table"
echo
echo "(b) cold sync vs tools' floor, (c) one-change latency, (d) peak RSS: not measured by this script yet (docs/benchmarks.md)"

if [ $write = 1 ]; then
    doc=docs/benchmarks.md
    python3 - "$doc" "$results" <<'PY'
import sys
path, results = sys.argv[1], sys.argv[2]
text = open(path).read()
begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
i, j = text.index(begin) + len(begin), text.index(end)
open(path, "w").write(text[:i] + "\n" + results + "\n" + text[j:])
PY
    echo "wrote $doc" >&2
fi
