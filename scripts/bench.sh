#!/bin/bash
# Benchmarks of issue 7 (docs/benchmarks.md). Prints a table per part with each target met or not
# and rewrites the results block of docs/benchmarks.md (machine, date, commit). Never a test:
# scripts/test.sh does not run it, and a missed target does not fail it.
#   (a) the pure core on this host: desired state + diff + plan from an empty node for N = 1k,
#       10k, 50k Services x 10 endpoints, median of R runs (kube-ipvs-bench, release build);
#   (b) in the QEMU guest: cold `kube-ipvs sync` of N = 1k and 10k from an empty node, and in the
#       same boot the kernel tools' floor for exactly the same state (Tests/vm/bench/cold-sync.sh);
#   (c) + (d) in the QEMU guest: `kube-ipvs run` against a real kube-apiserver holding N = 1k and
#       10k Services: one endpoint changed (kernel operations, the daemon's change-to-applied
#       time), the daemon's peak RSS and the binary's size (Tests/apiserver/bench/daemon-scale.sh;
#       starts and stops its own API server).
#   bash scripts/bench.sh [--parts abcd] [--runs R] [--sizes "1000 10000"] [--no-write]
# KUBE_IPVS_SCRATCH (default .build) selects the swift --scratch-path for (a); the guest binary is
# built as Tests/vm/run.sh builds it (KUBE_IPVS_GUEST_BIN to give one). (b)-(d) need root, qemu and
# (for c, d) the cached API server build; they take about 30-40 minutes under TCG emulation.
# KUBE_IPVS_BENCH_DAEMON_LINES=FILE re-tabulates the guest BENCH lines of an earlier (c)/(d) run
# (first line "# where they come from") instead of running the guest again.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=${KUBE_IPVS_SCRATCH:-.build}
runs=7
write=1
parts=abcd
sizes="1000 10000"
while [ $# -gt 0 ]; do
    case $1 in
        --runs) runs=$2; shift ;;
        --parts) parts=$2; shift ;;
        --sizes) sizes=$2; shift ;;
        --no-write) write=0 ;;
        *) echo "usage: $0 [--parts abcd] [--runs R] [--sizes \"1000 10000\"] [--no-write]" >&2; exit 2 ;;
    esac
    shift
done
target_ms=100   # (a): 10k x 10 planned in at most 100 ms
has() { case $parts in *$1*) return 0 ;; *) return 1 ;; esac; }
met() { if awk "BEGIN { exit !($1) }"; then echo "met ($2)"; else echo "NOT met ($2)"; fi; }
results=""
# kv LINE KEY: the value of KEY=... in a BENCH line
kv() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------------------- (a) host core
if has a; then
    swift build -c release --product kube-ipvs-bench --scratch-path "$scratch" >&2
    out=$("$scratch/release/kube-ipvs-bench" 1000 10000 50000 --endpoints 10 --runs "$runs")
    table="| Services x endpoints | build (ms) | plan (ms) | total, median (ms) | total, min (ms) | operations | target |
|---|---:|---:|---:|---:|---:|---|"
    while IFS=$'\t' read -r n m build plan total min ops; do
        [ "$n" = N ] && continue
        target="—"
        [ "$n" = 10000 ] && target=$(met "$total <= $target_ms" "≤ $target_ms ms")
        table+="
| $n x $m | $build | $plan | $total | $min | $ops | $target |"
    done <<<"$out"
    echo; echo "(a) pure computation on this host, median of $runs runs (target: 10k x 10 in at most $target_ms ms)"; echo "$table"
    results+="
### (a) Pure computation on the host, median of $runs runs

$table
"
fi

# The guest binary, built once for (b)-(d) as Tests/vm/run.sh would (static Swift stdlib).
guest_bin=${KUBE_IPVS_GUEST_BIN:-}
if { has b || has c || has d; } && [ -z "$guest_bin" ]; then
    swift build -c release --static-swift-stdlib --scratch-path "${scratch}-guest" --product kube-ipvs >&2
    guest_bin=$PWD/${scratch}-guest/release/kube-ipvs
fi

# --------------------------------------------------------------- (b) cold sync vs the tools' floor
if has b; then
    out=$(KUBE_IPVS_BENCH_SIZES="$sizes" KUBE_IPVS_VM_MEM=2048 KUBE_IPVS_GUEST_BIN=$guest_bin \
          bash Tests/vm/run.sh --keep Tests/vm/bench/cold-sync.sh 2>&1) || true
    rundir=$(printf '%s\n' "$out" | sed -n 's/.*run directory (initrd, console logs): //p' | tail -n 1)
    lines=$(grep -a '^BENCH cold-sync ' "$rundir/boot-1.log" 2>/dev/null | tr -d '\r' || true)
    [ -n "$lines" ] || { printf '%s\n' "$out" | tail -n 30 >&2; echo "(b): no results (see $rundir)" >&2; }
    table="| Services x endpoints | kube-ipvs sync (ms) | of which: load / addresses + build + plan / observe / apply (ms) | kernel requests | tools (ms): ip + ipset + iptables + ipvsadm | ratio | ratio, kernel part only | same state | target (≤ 1.5x) |
|---|---:|---|---:|---|---:|---:|---|---|"
    while read -r line; do
        [ -n "$line" ] || continue
        n=$(kv "$line" services) sync=$(kv "$line" sync_ms) tools=$(kv "$line" tools_ms)
        kern=$(awk -v o="$(kv "$line" t_observe)" -v a="$(kv "$line" t_apply)" 'BEGIN { printf "%.0f", o + a }')
        ratio=$(awk -v a="$sync" -v b="$tools" 'BEGIN { printf "%.2f", a / b }')
        kratio=$(awk -v a="$kern" -v b="$tools" 'BEGIN { printf "%.2f", a / b }')
        compute=$(awk -v b="$(kv "$line" t_build)" -v p="$(kv "$line" t_plan)" -v a="$(kv "$line" t_addresses)" 'BEGIN { printf "%.0f", a + b + p }')
        table+="
| $n x 10 | $sync | $(kv "$line" t_load) / $compute / $(kv "$line" t_observe) / $(kv "$line" t_apply) | $(kv "$line" requests) | $tools: $(kv "$line" ip_ms) + $(kv "$line" ipset_ms) + $(kv "$line" iptables_ms) + $(kv "$line" ipvsadm_ms) | ${ratio}x | ${kratio}x | $(kv "$line" same_state) | $(met "$ratio <= 1.5" "${ratio}x") |"
    done <<<"$lines"
    echo; echo "(b) cold sync in the QEMU guest vs the kernel tools' floor for the same state (target: at most 1.5x)"; echo "$table"
    results+="
### (b) Cold sync in the QEMU guest (TCG) vs the tools' floor, same boot

$table
"
    [ -n "$rundir" ] && grep -aq '^PASS cold-sync' "$rundir/boot-1.log" 2>/dev/null && rm -rf "$rundir"
fi

# ------------------------------------------------ (c) one endpoint change, (d) peak RSS: the daemon
if has c || has d; then
    state=/tmp/kube-ipvs-bench-apiserver
    export KUBE_IPVS_APISERVER_STATE=$state
    if [ -n "${KUBE_IPVS_BENCH_DAEMON_LINES:-}" ]; then
        # Re-tabulate the guest's BENCH lines of an earlier run (a file) instead of running it again.
        out=$(cat "$KUBE_IPVS_BENCH_DAEMON_LINES")
        reused=" The guest lines of (c) and (d) are from an earlier run, re-tabulated: $(head -n 1 "$KUBE_IPVS_BENCH_DAEMON_LINES" | sed -n 's/^# //p')"
    elif bash Tests/apiserver/start.sh >&2; then
        out=$(KUBE_IPVS_GUEST_BIN=$guest_bin bash Tests/apiserver/bench/daemon-scale.sh $sizes) || true
        bash Tests/apiserver/stop.sh >&2 || true
    else
        out=""
        echo "(c), (d): the API server did not start" >&2
    fi
    changes=$(printf '%s\n' "$out" | grep '^BENCH daemon-change ' || true)
    table="| Services x endpoints | changes | kernel operations per change | daemon time, change received to applied (ms): median (min-max) | of which computing + applying (ms), median | target (≤ 2 operations, ≤ 5 ms) |
|---|---:|---|---|---:|---|"
    for n in $sizes; do
        mine=$(printf '%s\n' "$changes" | grep " services=$n " || true)
        [ -n "$mine" ] || continue
        ops=$(printf '%s\n' "$mine" | tr ' ' '\n' | sed -n 's/^ops=//p' | sort -n | uniq -c | awk '{ printf "%s%s x %s", (NR > 1 ? ", " : ""), $1, $2 }')
        maxops=$(printf '%s\n' "$mine" | tr ' ' '\n' | sed -n 's/^ops=//p' | sort -n | tail -n 1)
        since=$(printf '%s\n' "$mine" | tr ' ' '\n' | sed -n 's/^since_change_ms=//p' | sort -n)
        med=$(printf '%s\n' "$since" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
        lo=$(printf '%s\n' "$since" | head -n 1) hi=$(printf '%s\n' "$since" | tail -n 1)
        el=$(printf '%s\n' "$mine" | tr ' ' '\n' | sed -n 's/^elapsed_ms=//p' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
        k=$(printf '%s\n' "$mine" | wc -l)
        table+="
| $n x 10 | $k | $ops | $med ($lo-$hi) | $el | $(met "$maxops <= 2 && $med <= 5" "$maxops operations, $med ms") |"
    done
    # The same path on the host: the daemon's loop over the in-memory kernel (no kernel time).
    swift build -c release --product kube-ipvs-bench --scratch-path "$scratch" >&2
    host=$("$scratch/release/kube-ipvs-bench" $sizes --one-change --runs 21)
    htable="| Services x endpoints | changes | kernel operations per change | daemon time, watch event decoded to sync done (ms): median (min) | target (≤ 2 operations, ≤ 5 ms) |
|---|---:|---|---|---|"
    while IFS=$'\t' read -r n m med min opslist; do
        [ "$n" = N ] && continue
        maxops=$(printf '%s\n' "$opslist" | tr ',' '\n' | sort -n | tail -n 1)
        htable+="
| $n x $m | 21 | $(printf '%s\n' "$opslist" | tr ',' '\n' | sort -n | uniq -c | awk '{ printf "%s%s x %s", (NR > 1 ? ", " : ""), $1, $2 }') | $med ($min) | $(met "$maxops <= 2 && $med <= 5" "$maxops operations, $med ms") |"
    done <<<"$host"
    echo; echo "(c) the same on this host: the daemon's loop over the in-memory kernel"; echo "$htable"
    starts=$(printf '%s\n' "$out" | grep '^BENCH daemon-start ' || true)
    stable="| Services x endpoints | start to first sync applied (ms) | first sync: operations, time (ms) |
|---|---:|---|"
    while read -r line; do
        [ -n "$line" ] || continue
        stable+="
| $(kv "$line" services) x 10 | $(kv "$line" start_to_first_sync_ms) | $(kv "$line" first_sync_ops), $(kv "$line" first_sync_elapsed_ms) |"
    done <<<"$starts"
    mem=$(printf '%s\n' "$out" | grep '^BENCH daemon-memory ' || true)
    mtable="| Services x endpoints | peak RSS (MiB) | RSS at the end (MiB) | target (≤ 100 MiB at 10k) |
|---|---:|---:|---|"
    while read -r line; do
        [ -n "$line" ] || continue
        n=$(kv "$line" services)
        peak=$(awk -v k="$(kv "$line" peak_rss_kib)" 'BEGIN { printf "%.1f", k / 1024 }')
        now=$(awk -v k="$(kv "$line" rss_kib)" 'BEGIN { printf "%.1f", k / 1024 }')
        target="—"; [ "$n" = 10000 ] && target=$(met "$peak <= 100" "$peak MiB")
        mtable+="
| $n x 10 | $peak | $now | $target |"
    done <<<"$mem"
    size=$(stat -c %s "$guest_bin")
    stripped=$(strip -o /tmp/kube-ipvs.stripped "$guest_bin" 2>/dev/null && stat -c %s /tmp/kube-ipvs.stripped || echo 0)
    binary="The binary (release, static Swift runtime, as in the guest): $(awk -v b="$size" 'BEGIN { printf "%.1f MiB", b / 1048576 }'), $(awk -v b="$stripped" 'BEGIN { printf "%.1f MiB", b / 1048576 }') stripped."
    echo; echo "(c) one endpoint changed, the daemon in the QEMU guest against a real kube-apiserver"; echo "$table"
    echo; echo "the daemon's cold start"; echo "$stable"
    echo; echo "(d) the daemon's memory"; echo "$mtable"; echo "$binary"
    results+="
### (c) One endpoint changed

On this host, the daemon's loop (\`ProxyLoop\`) over the in-memory kernel, \`kube-ipvs-bench --one-change --runs 21\`:

$htable

In the QEMU guest (TCG) with the real kernel, \`kube-ipvs run\` against a real kube-apiserver:

$table

The daemon's cold start in the same runs (list, watch, first full sync):

$stable

### (d) The daemon's memory

$mtable

$binary
"
fi

commit=$(git rev-parse --short HEAD)
git diff --quiet HEAD -- Sources Package.swift || commit+=" (with uncommitted changes)"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
machine="$(nproc) CPUs ($cpu), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r), $(swift --version 2>/dev/null | head -1)"
header="Machine: $machine. The guest: QEMU TCG (software emulation, one CPU, 2 GiB), Debian 12's
cloud kernel. Each part says when it was last measured; \`bash scripts/bench.sh --parts X\`
replaces only the parts it runs."
stamp="Measured $(date -u '+%Y-%m-%d %H:%M UTC') at commit $commit with \`bash scripts/bench.sh --parts $parts --runs $runs --sizes \"$sizes\"\`; load average before the run: $load_before.${reused:-}"

if [ $write = 1 ]; then
    doc=docs/benchmarks.md
    python3 - "$doc" "$header" "$stamp" "$results" <<'PY'
import re, sys
path, header, stamp, results = sys.argv[1:5]
text = open(path).read()
begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
i, j = text.index(begin) + len(begin), text.index(end)
def sections(block):
    # "### (x) ..." sections by part letter; a part run again replaces its section only.
    out, cur = {}, None
    for line in block.splitlines(keepends=True):
        m = re.match(r"### \(([a-d])\)", line)
        if m:
            cur = m.group(1)
            out[cur] = ""
        if cur:
            out[cur] += line
    return out
old, new = sections(text[i:j]), sections(results)
for k in new:
    first, _, rest = new[k].partition("\n")
    new[k] = first + "\n\n" + stamp + "\n" + rest
old.update(new)
body = "\n" + header + "\n\n" + "".join(old[k].rstrip("\n") + "\n\n" for k in sorted(old))
open(path, "w").write(text[:i] + body + text[j:])
PY
    echo "wrote $doc" >&2
fi
