#!/usr/bin/env bash
# Benchmarks (c) and (d) of issue 7 (docs/benchmarks.md): the daemon in the QEMU guest against a
# real kube-apiserver holding N Services x 10 endpoints, for each N of SIZES (default "1000 10000"),
# one boot per size. Needs a running API server (Tests/apiserver/start.sh; scripts/bench.sh starts
# and stops one): KUBE_IPVS_APISERVER_STATE names its state directory. Objects are created with
# kubectl (discovery.k8s.io/v1beta1, the 1.20 server's version), in 4 parallel parts, only those
# missing (a bigger size adds to a smaller one). Prints the guest's `BENCH ...` lines.
#   daemon-scale.sh [SIZE...]
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
printf 'apiVersion: v1\nkind: Node\nmetadata:\n  name: node1\nspec:\n  podCIDR: 10.244.1.0/24\n' | "${KC[@]}" apply -f - >/dev/null
for n in "${sizes[@]}"; do
    if [ "$have" -lt "$n" ]; then
        t0=$(date +%s)
        [ "$have" = 0 ] && python3 scripts/bench-manifests.py "$n" 10 --namespaces --to 0 | "${KC[@]}" apply -f - >/dev/null
        step=$(( (n - have + 3) / 4 )) pids=()
        for k in 0 1 2 3; do
            from=$((have + k * step)) to=$((have + (k + 1) * step))
            [ "$from" -ge "$n" ] && continue
            python3 scripts/bench-manifests.py "$n" 10 --api discovery.k8s.io/v1beta1 --from "$from" --to "$to" >"$D/objects-$k.yaml"
            "${KC[@]}" create -f "$D/objects-$k.yaml" >"$D/create-$k.log" 2>&1 &
            pids+=($!)
        done
        ok=1; for p in "${pids[@]}"; do wait "$p" || ok=0; done
        [ $ok = 1 ] || { tail -n 5 "$D"/create-*.log >&2; log "creating Services $have..$((n - 1)) failed"; exit 1; }
        log "created Services $have..$((n - 1)) and their EndpointSlices in $(( $(date +%s) - t0 )) s"
        have=$n
    fi
    echo "$n" >"$D/size"
    sed "s#@D@#$D#; s#@STATE@#$STATE#" Tests/apiserver/bench/control.sh >"$D/control.sh"
    t=$D/61-daemon-scale-$n.sh
    sed "s#@PORT@#$KUBE_IPVS_APISERVER_PORT#; s#@CONTROL@#$D/control.sh#; s#@SIZE@#$n#" Tests/apiserver/bench/guest.sh >"$t"
    cp Tests/apiserver/bench/guest.host.sh "${t%.sh}.host.sh"
    out=$(KUBE_IPVS_VM_MEM=${KUBE_IPVS_VM_MEM:-2048} bash Tests/vm/run.sh --keep "$t" 2>&1)
    rundir=$(printf '%s\n' "$out" | sed -n 's/.*run directory (initrd, console logs): //p' | tail -n 1)
    if [ -n "$rundir" ] && [ -f "$rundir/boot-1.log" ]; then
        grep -a '^BENCH ' "$rundir/boot-1.log" | tr -d '\r'
        grep -aq "^PASS 61-daemon-scale-$n" "$rundir/boot-1.log" || { printf '%s\n' "$out" | tail -n 40 >&2; log "the guest run failed (console: $rundir/boot-1.log)"; }
    else
        printf '%s\n' "$out" | tail -n 40 >&2
        log "no guest console"
    fi
done
