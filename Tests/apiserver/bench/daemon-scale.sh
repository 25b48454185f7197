#!/usr/bin/env bash
# The guest parts of the daemon benchmarks (docs/benchmarks.md, (c)-(e)): for each N of SIZES
# (default "1000 10000"), the API server gets N Services x 10 endpoints (objects.sh, only those
# missing: a bigger size adds to a smaller one), then ONE guest boot runs, on those objects,
# `kube-ipvs sync -f`, `kube-ipvs run` and kube-proxy 1.20 in IPVS mode (guest.sh) and prints the
# guest's `BENCH ...` lines (and objects.sh's). Needs a running API server (Tests/apiserver/start.sh;
# scripts/bench.sh starts and stops one): KUBE_IPVS_APISERVER_STATE names its state directory.
#   daemon-scale.sh [SIZE...]
# Environment:
#   KUBE_IPVS_BENCH_PROXIES         what the guest runs (default "sync kube-ipvs kube-proxy")
#   KUBE_IPVS_BENCH_KUBE_PROXY_MAX  sizes above it leave kube-proxy out (default 10000)
#   KUBE_IPVS_BENCH_PROXY_LIMIT     seconds for kube-proxy's cold start (default 600 up to 1k,
#                                   1800 above)
#   KUBE_IPVS_BENCH_PROXY_CHANGES   seconds for kube-proxy's 5 changes together (default: as the
#                                   cold start's limit)
#   KUBE_IPVS_BENCH_IPVS_LIMIT      seconds for kube-ipvs's cold start and for sync -f (default
#                                   1200 up to 10k, 3600 above)
#   KUBE_IPVS_VM_MEM                the guest's memory (default 2048 MiB up to 10k, 4096 above)
#   KUBE_IPVS_BENCH_COLD_REPEATS    cold starts of sync -f and kube-ipvs, alternating (default 3;
#                                   the first pair is the one the changes and cleanups follow)
#   KUBE_IPVS_BENCH_DECODE          a kube-ipvs-bench binary: at size 10000, decode.sh runs with it
#                                   before the boot (part (f))
set -uo pipefail
: "${KUBE_IPVS_APISERVER_STATE:?start an API server first (Tests/apiserver/start.sh)}"
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
cd "$repo"
STATE=$KUBE_IPVS_APISERVER_STATE
. "$STATE/env"
sizes=("$@"); [ ${#sizes[@]} = 0 ] && sizes=(1000 10000)
D=$STATE/daemon-scale
mkdir -p "$D"
cp scripts/bench-manifests.py "$D/"
KC=("$KUBECTL" --kubeconfig "$KUBE_IPVS_KUBECONFIG")
log() { echo "daemon-scale: $*" >&2; }

have=$("${KC[@]}" get services -A -l '!component' --no-headers 2>/dev/null | grep -c ' svc-' || true)
if [ "$have" -gt "${sizes[0]}" ]; then
    log "the API server already holds $have benchmark Services, more than ${sizes[0]}: use a fresh one (scripts/bench.sh starts one)"
    exit 1
fi
for n in "${sizes[@]}"; do
    bash Tests/apiserver/bench/objects.sh "$n" || exit 1
    # Part (f) while the API server holds exactly 10k.
    [ "$n" = 10000 ] && [ -n "${KUBE_IPVS_BENCH_DECODE:-}" ] && bash Tests/apiserver/bench/decode.sh "$KUBE_IPVS_BENCH_DECODE" 10000
    proxies=${KUBE_IPVS_BENCH_PROXIES:-sync kube-ipvs kube-proxy}
    [ "$n" -gt "${KUBE_IPVS_BENCH_KUBE_PROXY_MAX:-10000}" ] && proxies=$(echo "$proxies" | sed 's/ *kube-proxy//')
    if [ "$n" -le 1000 ]; then plimit=600; else plimit=1800; fi
    plimit=${KUBE_IPVS_BENCH_PROXY_LIMIT:-$plimit}
    if [ "$n" -le 10000 ]; then ilimit=1200 mem=2048; else ilimit=3600 mem=4096; fi
    ilimit=${KUBE_IPVS_BENCH_IPVS_LIMIT:-$ilimit}
    pchanges=${KUBE_IPVS_BENCH_PROXY_CHANGES:-$plimit}
    # The boot's limit: every bounded wait of guest.sh, plus cleanups and slack.
    timeout=$((900 + 2 * ilimit * ${KUBE_IPVS_BENCH_COLD_REPEATS:-3} + 5 * 120 + plimit + pchanges + 1800))
    echo "$n" >"$D/size"
    sed "s#@D@#$D#; s#@STATE@#$STATE#" Tests/apiserver/bench/control.sh >"$D/control.sh"
    t=$D/61-daemon-scale-$n.sh
    sed "s#@PORT@#$KUBE_IPVS_APISERVER_PORT#; s#@CONTROL@#$D/control.sh#; s#@SIZE@#$n#; s#@TIMEOUT@#$timeout#;
         s#@PROXIES@#$proxies#; s#@IPVS_LIMIT@#$ilimit#; s#@PROXY_LIMIT@#$plimit#; s#@PROXY_CHANGES@#$pchanges#; s#@COLD_REPEATS@#${KUBE_IPVS_BENCH_COLD_REPEATS:-3}#" Tests/apiserver/bench/guest.sh >"$t"
    sed "s#@SIZE@#$n#; s#@PROXIES@#$proxies#" Tests/apiserver/bench/guest.host.sh >"${t%.sh}.host.sh"
    log "size $n: guest runs '$proxies' (limits: kube-ipvs $ilimit s, kube-proxy $plimit s + $pchanges s for its changes; boot $timeout s; ${KUBE_IPVS_VM_MEM:-$mem} MiB)"
    t0=$(date +%s)
    out=$(KUBE_IPVS_VM_MEM=${KUBE_IPVS_VM_MEM:-$mem} bash Tests/vm/run.sh --keep "$t" 2>&1)
    log "size $n: the guest run took $(( $(date +%s) - t0 )) s"
    rundir=$(printf '%s\n' "$out" | sed -n 's/.*run directory (initrd, console logs): //p' | tail -n 1)
    if [ -n "$rundir" ] && [ -f "$rundir/boot-1.log" ]; then
        grep -a '^BENCH ' "$rundir/boot-1.log" | tr -d '\r'
        grep -aq "^PASS 61-daemon-scale-$n" "$rundir/boot-1.log" || { printf '%s\n' "$out" | tail -n 40 >&2; log "the guest run failed (console: $rundir/boot-1.log)"; }
        log "size $n: console log $rundir/boot-1.log"
    else
        printf '%s\n' "$out" | tail -n 40 >&2
        log "no guest console"
    fi
done
