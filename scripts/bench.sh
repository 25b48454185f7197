#!/bin/bash
# Benchmarks of issues 7 and 16 (docs/benchmarks.md). Prints a table per part with each target met
# or not and rewrites the results block of docs/benchmarks.md (machine, date, commit). Never a test:
# scripts/test.sh does not run it, and a missed target does not fail it.
#   (a) the pure core on this host: desired state + diff + plan from an empty node for N = 1k,
#       10k, 50k Services x 10 endpoints, median of R runs (kube-ipvs-bench, release build);
#   (b) in the QEMU guest: cold `kube-ipvs sync` of N = 1k and 10k from an empty node, and in the
#       same boot the kernel tools' floor for exactly the same state (Tests/vm/bench/cold-sync.sh);
#   (c) (d) (e) in the QEMU guest, ONE boot per size N of SIZES, against a real kube-apiserver
#       holding N Services (Tests/apiserver/bench/daemon-scale.sh; starts and stops its own API
#       server): `kube-ipvs sync -f` of the same objects, then `kube-ipvs run`, then kube-proxy
#       1.20 --proxy-mode=ipvs, each in a fresh network namespace and each followed by its
#       cleanup. (c) one endpoint changed: kernel operations and the daemon's own time;
#       (d) kube-ipvs's peak RSS; (e) issue 16's comparison, measured the same external way for
#       both daemons: cold start (start -> every real server in /proc/net/ip_vs) against sync -f,
#       change latency (sent -> new real server visible), peak RSS, CPU; ratios per line. The
#       cold starts of sync -f and kube-ipvs alternate in KUBE_IPVS_BENCH_COLD_REPEATS pairs
#       (default 3; medians). The host part of (c) runs the daemon's loop at each size and 50k
#       (KUBE_IPVS_BENCH_HOST_SIZES). Sizes above KUBE_IPVS_BENCH_KUBE_PROXY_MAX (10000) run
#       without kube-proxy;
#   (f) decoding the initial lists at 10k: the API server's Service and EndpointSlice lists
#       saved as JSON and as protobuf, `kube-ipvs-bench --decode` on each, CPU and the ratio
#       (Tests/apiserver/bench/decode.sh; "not available" when that mode is missing);
#   (g) the release binary's size (static Swift runtime, stripped and not) and the container
#       image archive's size when `make image` has written one (.cache/image/*.oci.tar).
#   bash scripts/bench.sh [--parts abcdefg] [--runs R] [--sizes "1000 10000"] [--no-write]
# KUBE_IPVS_SCRATCH (default .build) selects the swift --scratch-path for (a), (c) and (f); the
# guest binary is built as Tests/vm/run.sh builds it (KUBE_IPVS_GUEST_BIN to give one; KUBE_IPVS_BENCH_BIN
# gives a release kube-ipvs-bench for (c) and (f), e.g. one built beside the guest binary). (b)-(f)
# need root, qemu and (for c-f) the cached API server build (KUBE_IPVS_APISERVER_CACHE); the API
# server's state goes to KUBE_IPVS_APISERVER_STATE (default /tmp/kube-ipvs-bench-apiserver).
# Under TCG emulation (b) takes about 10 minutes, (c)-(e) about 20 minutes at 1k and 35 at 10k,
# most of it kube-proxy's (each of its waits is bounded, KUBE_IPVS_BENCH_PROXY_LIMIT seconds).
# KUBE_IPVS_BENCH_DAEMON_LINES=FILE re-tabulates the guest BENCH lines of an earlier (c)-(f) run
# (first line "# where they come from") instead of running the guest again.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=${KUBE_IPVS_SCRATCH:-.build}
runs=7
write=1
parts=abcdefg
sizes="1000 10000"
while [ $# -gt 0 ]; do
    case $1 in
        --runs) runs=$2; shift ;;
        --parts) parts=$2; shift ;;
        --sizes) sizes=$2; shift ;;
        --no-write) write=0 ;;
        *) echo "usage: $0 [--parts abcdefg] [--runs R] [--sizes \"1000 10000\"] [--no-write]" >&2; exit 2 ;;
    esac
    shift
done
target_ms=100   # (a): 10k x 10 planned in at most 100 ms
has() { case $parts in *$1*) return 0 ;; *) return 1 ;; esac; }
met() { if awk "BEGIN { exit !($1) }"; then echo "met ($2)"; else echo "NOT met ($2)"; fi; }
results=""
# kv LINE KEY: the value of KEY=... in a BENCH line
kv() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }
sec() { awk -v v="$1" 'BEGIN { if (v == "") print "—"; else printf "%.1f", v / 1000 }'; }
mib() { awk -v v="$1" 'BEGIN { if (v == "") print "—"; else printf "%.1f", v / 1024 }'; }

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
if { has b || has c || has d || has e || has g; } && [ -z "$guest_bin" ]; then
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

# ------------------------------- (c)-(f): one API server; the guest's daemons (one boot per size)
out=""
if has c || has d || has e || has f; then
    export KUBE_IPVS_APISERVER_STATE=${KUBE_IPVS_APISERVER_STATE:-/tmp/kube-ipvs-bench-apiserver}
    bench_bin=${KUBE_IPVS_BENCH_BIN:-$PWD/$scratch/release/kube-ipvs-bench}
    if [ -z "${KUBE_IPVS_BENCH_BIN:-}" ] && { has c || { has f && [ -z "${KUBE_IPVS_BENCH_DAEMON_LINES:-}" ]; }; }; then
        swift build -c release --product kube-ipvs-bench --scratch-path "$scratch" >&2
    fi
    if [ -n "${KUBE_IPVS_BENCH_DAEMON_LINES:-}" ]; then
        # Re-tabulate the guest's BENCH lines of an earlier run (a file) instead of running it again.
        out=$(cat "$KUBE_IPVS_BENCH_DAEMON_LINES")
        reused=" The guest lines of (c)-(f) are from an earlier run, re-tabulated: $(head -n 1 "$KUBE_IPVS_BENCH_DAEMON_LINES" | sed -n 's/^# //p')"
    elif bash Tests/apiserver/start.sh >&2; then
        if has c || has d || has e; then
            # (f) runs inside, while the API server holds exactly 10k (when 10000 is one of the sizes).
            decode=""; has f && decode=$bench_bin
            out=$(KUBE_IPVS_GUEST_BIN=$guest_bin KUBE_IPVS_BENCH_DECODE=$decode bash Tests/apiserver/bench/daemon-scale.sh $sizes) || true
        fi
        if has f && ! printf '%s\n' "$out" | grep -q '^BENCH decode'; then
            out+=$'\n'$(bash Tests/apiserver/bench/decode.sh "$bench_bin" 10000) || true
        fi
        bash Tests/apiserver/stop.sh >&2 || true
    else
        echo "(c)-(f): the API server did not start" >&2
    fi
    echo; echo "the BENCH lines of (c)-(f):"; printf '%s\n' "$out" | grep '^BENCH ' || true
fi

if has c || has d; then
    changes=$(printf '%s\n' "$out" | grep '^BENCH daemon-change ' || true)
    table="| Services x endpoints | changes | kernel operations per change | daemon time, change received to applied (ms): median (min-max) | of which computing + applying (ms), median | target (≤ 2 operations, ≤ 5 ms) |
|---|---:|---|---|---:|---|"
    for n in $sizes; do
        mine=$(printf '%s\n' "$changes" | grep " services=$n " || true)
        [ -n "$mine" ] || continue
        ops=$(printf '%s\n' "$mine" | tr ' ' '\n' | sed -n 's/^ops=//p' | sort -n | uniq -c | awk '{ printf "%s%s x %s", (NR > 1 ? ", " : ""), $1, $2 }')
        maxops=$(printf '%s\n' "$mine" | tr ' ' '\n' | sed -n 's/^ops=//p' | sort -n | tail -n 1)
        [ -n "$maxops" ] || continue
        since=$(printf '%s\n' "$mine" | tr ' ' '\n' | sed -n 's/^since_change_ms=//p' | sort -n)
        med=$(printf '%s\n' "$since" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
        lo=$(printf '%s\n' "$since" | head -n 1) hi=$(printf '%s\n' "$since" | tail -n 1)
        el=$(printf '%s\n' "$mine" | tr ' ' '\n' | sed -n 's/^elapsed_ms=//p' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
        k=$(printf '%s\n' "$mine" | wc -l)
        table+="
| $n x 10 | $k | $ops | $med ($lo-$hi) | $el | $(met "$maxops <= 2 && $med <= 5" "$maxops operations, $med ms") |"
    done
    # The same path on the host: the daemon's loop over the in-memory kernel (no kernel time).
    # One process per size, so that each has a peak of its own; 50k too (issue 16), which the
    # guest cannot reach (KUBE_IPVS_BENCH_HOST_SIZES).
    host=""; has c && for n in ${KUBE_IPVS_BENCH_HOST_SIZES:-$sizes 50000}; do host+=$("$bench_bin" "$n" --one-change --runs 21)$'\n'; done
    htable="| Services x endpoints | changes | kernel operations per change | daemon time, watch event decoded to sync done (ms): median (min) | target (≤ 2 operations, ≤ 5 ms) | first sync (ms) | anonymous RSS after it, peak (MiB) |
|---|---:|---|---|---|---:|---|"
    while IFS=$'\t' read -r n m med min opslist first anon peak; do
        [ "$n" = N ] || [ -z "$n" ] && continue
        maxops=$(printf '%s\n' "$opslist" | tr ',' '\n' | sort -n | tail -n 1)
        htable+="
| $n x $m | 21 | $(printf '%s\n' "$opslist" | tr ',' '\n' | sort -n | uniq -c | awk '{ printf "%s%s x %s", (NR > 1 ? ", " : ""), $1, $2 }') | $med ($min) | $(met "$maxops <= 2 && $med <= 5" "$maxops operations, $med ms") | ${first:-—} | $(mib "$anon"), $(mib "$peak") |"
    done <<<"$host"
    has c && { echo; echo "(c) the same on this host: the daemon's loop over the in-memory kernel"; echo "$htable"; }
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
    if has c; then
    echo; echo "(c) one endpoint changed, the daemon in the QEMU guest against a real kube-apiserver"; echo "$table"
    echo; echo "the daemon's cold start"; echo "$stable"
    results+="
### (c) One endpoint changed

On this host, the daemon's loop (\`ProxyLoop\`) over the in-memory kernel, \`kube-ipvs-bench --one-change --runs 21\`:

$htable

In the QEMU guest (TCG) with the real kernel, \`kube-ipvs run\` against a real kube-apiserver:

$table

The daemon's cold start in the same runs (list, watch, first full sync):

$stable
"
    fi
    if has d; then
    echo; echo "(d) the daemon's memory"; echo "$mtable"
    results+="
### (d) The daemon's memory

$mtable
"
    fi
fi

# ------------------------------------- (e) issue 16: kube-ipvs beside sync -f and kube-proxy 1.20
# line PATTERN: the first BENCH line of $out matching PATTERN (grep -E)
line() { printf '%s\n' "$out" | grep -E "$1" | head -n 1 || true; }
# nlines TEXT: its non-empty lines
nlines() { printf '%s\n' "$1" | grep -c . || true; }
# median of the numbers on stdin (empty when none)
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)] }'; }
# ratio A B: A / B with two decimals, "—" when either is missing
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "—"; else printf (a / b < 0.1 ? "%.3fx" : "%.2fx"), a / b }'; }
ahead() { case $1 in —|"< —") echo "—" ;; *) r=${1#< }; awk -v r="${r%x}" 'BEGIN { print (r < 1 ? "ahead" : "NOT ahead") }' ;; esac; }
if has e; then
    etable="| Services x endpoints | line | kube-ipvs run | sync -f | kube-ipvs / sync -f | kube-proxy 1.20 | kube-ipvs / kube-proxy | target |
|---|---|---:|---:|---:|---:|---:|---|"
    change1k=""
    for n in $sizes; do
        sy=$(line "^BENCH guest-sync services=$n ")
        is=$(line "^BENCH guest-start proxy=kube-ipvs services=$n ") ie=$(line "^BENCH guest-end proxy=kube-ipvs services=$n ")
        ps=$(line "^BENCH guest-start proxy=kube-proxy services=$n ") pe=$(line "^BENCH guest-end proxy=kube-proxy services=$n ")
        [ -n "$sy$is$ps" ] || continue
        ich=$(printf '%s\n' "$out" | grep "^BENCH guest-change proxy=kube-ipvs services=$n " | grep ' visible=yes' || true)
        pch=$(printf '%s\n' "$out" | grep "^BENCH guest-change proxy=kube-proxy services=$n " | grep ' visible=yes' || true)
        pall=$(printf '%s\n' "$out" | grep -c "^BENCH guest-change proxy=kube-proxy services=$n " || true)
        # kube-proxy's cells: its figure, or why there is none
        pcell() {  # pcell VALUE
            if [ -z "$ps" ]; then echo "not run"
            elif [ "$(kv "$ps" done)" != yes ]; then echo "not done in $(kv "$ps" limit_s) s"
            else echo "$1"; fi
        }
        pdone=$([ -n "$ps" ] && [ "$(kv "$ps" done)" = yes ] && echo 1 || true)
        icold=$([ "$(kv "$is" done)" = yes ] && kv "$is" cold_ms || true)
        pcold=${pdone:+$(kv "$ps" cold_ms)}
        # sync -f polled as the daemons are (guest.sh); a run from before that has only its exit time
        scold=$(kv "$sy" cold_ms); [ -n "$scold" ] || scold=$(kv "$sy" sync_ms)
        iown=$(kv "$is" since_start_ms) sown=$(kv "$sy" sync_ms) reps=1 pairs=""
        # Alternating repeats (BENCH guest-cold): the medians, and each pair's ratio
        cold() { printf '%s\n' "$out" | grep "^BENCH guest-cold proxy=$1 services=$n " | tr ' ' '\n' | sed -n "s/^$2=//p" | grep . || true; }
        if [ -n "$(cold kube-ipvs cold_ms)" ]; then
            reps=$(cold kube-ipvs cold_ms | wc -l)
            pairs=$(paste -d' ' <(cold kube-ipvs cold_ms) <(cold sync cold_ms) | while read -r a b; do ratio "$a" "$b"; echo; done | paste -sd ',' | sed 's/,/, /g')
            icold=$(cold kube-ipvs cold_ms | median) scold=$(cold sync cold_ms | median)
            iown=$(cold kube-ipvs own_ms | median) sown=$(cold sync own_ms | median)
        fi
        r1=$(ratio "$icold" "$scold") r2=$(ratio "$icold" "$pcold")
        # kube-proxy not done within its limit: kube-ipvs's time over the limit is an upper bound
        [ -n "$ps" ] && [ -z "$pdone" ] && [ -n "$icold" ] && r2="< $(ratio "$icold" "$(( $(kv "$ps" limit_s) * 1000 ))")"
        t="$(ahead "$r2") of kube-proxy"
        case $n in 1000|10000) t="$(met "${r1%x} <= 1.2" "≤ 1.2x sync -f: $r1"); $t" ;; esac
        [ "$r1" = — ] && t="$(ahead "$r2") of kube-proxy"
        etable+="
| $n x 10 | cold start: start to every real server in /proc/net/ip_vs, same poll for all (s)$([ "$reps" -gt 1 ] && echo "; median of $reps alternating pairs (each: $pairs)") | $(sec "$icold") | $(sec "$scold") | $r1 | $(pcell "$(sec "$pcold")") | $r2 | $t |"
        # Without the poll: the daemon's own log (process start to its first sync applied) against
        # sync -f's exit; the poll's CPU share still slows the daemon, not sync -f.
        r1=$(ratio "$iown" "$sown")
        t="—"; case $n in 1000|10000) [ "$r1" != — ] && t=$(met "${r1%x} <= 1.2" "≤ 1.2x: $r1") ;; esac
        etable+="
| $n x 10 | cold start, unpolled: the daemon's own since-start-ms to its first sync applied; sync -f to its exit (s)$([ "$reps" -gt 1 ] && echo "; medians") | $(sec "$iown") | $(sec "$sown") | $r1 | — | — | $t |"
        r1=$(ratio "$(kv "$is" cpu_ms)" "$(kv "$sy" cpu_ms)") r2=$(ratio "$(kv "$is" cpu_ms)" "${pdone:+$(kv "$ps" cpu_ms)}")
        etable+="
| $n x 10 | CPU until then, user + sys (s) | $(sec "$(kv "$is" cpu_ms)") | $(sec "$(kv "$sy" cpu_ms)") | $r1 | $(pcell "$(sec "$(kv "$ps" cpu_ms)")") | $r2 | $(ahead "$r2") |"
        imed=$(printf '%s\n' "$ich" | tr ' ' '\n' | sed -n 's/^ext_ms=//p' | median)
        pmed=$(printf '%s\n' "$pch" | tr ' ' '\n' | sed -n 's/^ext_ms=//p' | median)
        api=$(printf '%s\n' "$out" | grep "^BENCH guest-change .*services=$n " | tr ' ' '\n' | sed -n 's/^api_ms=//p' | median)
        r2=$(ratio "$imed" "$pmed")
        pc=$(pcell "${pmed:-none visible}"); [ -n "$pdone" ] && pc="$pc ($(nlines "$pch") of $pall visible)"
        # kube-proxy's first change never visible: kube-ipvs's median over that wait is an upper bound
        pno=$(line "^BENCH guest-change proxy=kube-proxy services=$n .*visible=no")
        if [ -n "$pdone" ] && [ -z "$pmed" ] && [ -n "$pno" ]; then
            pc="not visible in $(sec "$(kv "$pno" ext_ms)") s"; r2="< $(ratio "$imed" "$(kv "$pno" ext_ms)")"
        fi
        etable+="
| $n x 10 | one endpoint changed: sent to the new real server visible, median of $(nlines "$ich") (ms; the API write alone: ${api:-?}) | ${imed:-—} | — | — | $pc | $r2 | $(ahead "$r2") |"
        r2=$(ratio "$(kv "$ie" cpu_end_ms)" "${pdone:+$(kv "$pe" cpu_end_ms)}")
        etable+="
| $n x 10 | CPU from the start to the end, changes included (s) | $(sec "$(kv "$ie" cpu_end_ms)") | — | — | $(pcell "$(sec "$(kv "$pe" cpu_end_ms)")") | $r2 | $(ahead "$r2") |"
        ihwm=$(kv "$ie" peak_rss_kib) phwm=${pdone:+$(kv "$pe" peak_rss_kib)}
        r2=$(ratio "$ihwm" "$phwm")
        lim=""; case $n in 1000) lim=40 ;; 10000) lim=80 ;; 50000) lim=300 ;; esac
        t="$(ahead "$r2") of kube-proxy"; [ -n "$lim" ] && [ -n "$ihwm" ] && t="$(met "$(mib "$ihwm") <= $lim" "≤ $lim MiB"); $t"
        etable+="
| $n x 10 | peak RSS, VmHWM (MiB) | $(mib "$ihwm") | — | — | $(pcell "$(mib "$phwm")") | $r2 | $t |"
        ops=$(printf '%s\n' "$ich" | tr ' ' '\n' | sed -n 's/^ops=//p' | sort -n | uniq -c | awk '{ printf "%s%s x %s", (NR > 1 ? ", " : ""), $1, $2 }')
        maxops=$(printf '%s\n' "$ich" | tr ' ' '\n' | sed -n 's/^ops=//p' | sort -n | tail -n 1)
        dmed=$(printf '%s\n' "$ich" | tr ' ' '\n' | sed -n 's/^since_change_ms=//p' | median)
        [ "$n" = 1000 ] && change1k=$dmed
        t="—"
        [ -n "$maxops" ] && t=$(met "$maxops <= 2" "$maxops operations")
        [ "$n" != 1000 ] && [ -n "$change1k" ] && [ -n "$dmed" ] && t+="; daemon time $(ratio "$dmed" "$change1k") of 1k's"
        etable+="
| $n x 10 | kube-ipvs per change: kernel operations; its own time, change received to applied, median (ms) | ${ops:-—}; ${dmed:-—} | — | — | — | — | $t |"
        r1=$(ratio "$(kv "$ie" cleanup_ms)" "$(kv "$sy" cleanup_ms)") r2=$(ratio "$(kv "$ie" cleanup_ms)" "$(kv "$pe" cleanup_ms)")
        etable+="
| $n x 10 | cleanup afterwards (\`kube-ipvs cleanup\`, \`kube-proxy --cleanup\`) (s) | $(sec "$(kv "$ie" cleanup_ms)") | $(sec "$(kv "$sy" cleanup_ms)") | $r1 | $(sec "$(kv "$pe" cleanup_ms)") | $r2 | — |"
    done
    created=$(printf '%s\n' "$out" | grep '^BENCH apiserver-create ' | while read -r l; do echo "$(kv "$l" created) in $(kv "$l" seconds) s ($(kv "$l" parts) kubectl parts)"; done | paste -sd ';' | sed 's/;/; /g' || true)
    polls=$(printf '%s\n' "$out" | grep -E '^BENCH guest-(start|sync) ' | while read -r l; do p=$(kv "$l" poll_ms); c=$(kv "$l" count_ms); echo "$(kv "$l" proxy)$(case $l in *guest-sync*) echo "sync -f" ;; esac) at $(kv "$l" services): ${p:-?} ms, full count ${c:-?} ms"; done | paste -sd ';' | sed 's/;/; /g' || true)
    phasemem=$(printf '%s\n' "$out" | grep '^BENCH daemon-phase-memory ' | while read -r l; do echo "$(kv "$l" services): $(printf '%s\n' "$l" | tr ' ' '\n' | sed -n 's/^kib-\([a-z]*\)=\(.*\)/\1 \2/p' | awk '{ printf "%s%s %.1f", (NR > 1 ? ", " : ""), $1, $2 / 1024 }')"; done | paste -sd ';' | sed 's/;/; /g' || true)
    echo; echo "(e) issue 16: kube-ipvs beside sync -f and kube-proxy 1.20 --proxy-mode=ipvs, the same guest boot per size"; echo "$etable"
    results+="
### (e) Issue 16: kube-ipvs beside \`sync -f\` and kube-proxy 1.20, same boot per size

$etable

Objects created in the API server: ${created:-none created in this run}. The cold-start poll: one round (seven sampled Services, \`ipvsadm -Ln -t\`) took on average, and the one full read of /proc/net/ip_vs that confirms the count (after the time is taken) took: ${polls:-—}.
The daemon's memory through its first sync (MiB; anonymous RSS after each phase, and \`peak\`, VmHWM with the binary): ${phasemem:-—}.
"
fi

# ---------------------------------------------------------------- (f) decoding the initial lists
if has f; then
    av=$(line '^BENCH decode available=no')
    if [ -n "$av" ]; then
        ftable="Not available: $(kv "$av" reason | tr '_' ' ') (the API server held $(kv "$av" services) Services)."
    else
        dj=$(line '^BENCH decode format=json') dp=$(line '^BENCH decode format=protobuf') dr=$(line '^BENCH decode-ratio')
        ftable="| lists of $(kv "$dj" services) Services and their EndpointSlices | bytes | CPU, user + sys, min of $(kv "$dj" runs) (ms) |
|---|---:|---:|
| JSON (\`application/json\`) | $(kv "$dj" bytes) | $(kv "$dj" cpu_ms) |
| protobuf (\`application/vnd.kubernetes.protobuf\`) | $(kv "$dp" bytes) | $(kv "$dp" cpu_ms) |

JSON / protobuf: $(kv "$dr" json_over_protobuf)x (target: at least 3x)."
    fi
    echo; echo "(f) decoding the initial lists"; echo "$ftable"
    results+="
### (f) Decoding the initial lists

$ftable
"
fi

# ------------------------------------------------------------- (g) the binary and the image
if has g; then
    size=$(stat -c %s "$guest_bin")
    stripped=$(strip -o /tmp/kube-ipvs.stripped "$guest_bin" 2>/dev/null && stat -c %s /tmp/kube-ipvs.stripped || echo 0)
    image=$(ls -t .cache/image/*.oci.tar 2>/dev/null | head -n 1 || true)
    if [ -n "$image" ]; then
        img="the container image archive $image ($(date -u -r "$image" '+%Y-%m-%d %H:%M UTC')): $(awk -v b="$(stat -c %s "$image")" 'BEGIN { printf "%.1f MiB", b / 1048576 }')"
    else
        img="no container image archive (.cache/image/*.oci.tar; \`make image\` writes one)"
    fi
    gtable="| | size | target |
|---|---:|---|
| release binary, static Swift runtime | $(awk -v b="$size" 'BEGIN { printf "%.1f MiB", b / 1048576 }') | — |
| the same, stripped | $(awk -v b="$stripped" 'BEGIN { printf "%.1f MB (%.1f MiB)", b / 1e6, b / 1048576 }') | $(met "$stripped <= 40000000" "≤ 40 MB") |

And $img."
    echo; echo "(g) the binary and the image"; echo "$gtable"
    results+="
### (g) The binary and the image

$gtable
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
        m = re.match(r"### \(([a-g])\)", line)
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
