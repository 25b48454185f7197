#!/usr/bin/env bash
# Makes the running API server (KUBE_IPVS_APISERVER_STATE) hold N benchmark Services x 10 endpoints
# (scripts/bench-manifests.py; discovery.k8s.io/v1beta1, the 1.20 server's version) and the Node
# node1: creates only those missing (Services 0..N-1 are made in order, so a bigger N adds to a
# smaller one), with kubectl in KUBE_IPVS_BENCH_CREATE_PARTS parallel parts (default 4). Prints
# `BENCH apiserver-create services=N created=C seconds=S parts=P` when it created any.
#   objects.sh N
set -uo pipefail
: "${KUBE_IPVS_APISERVER_STATE:?start an API server first (Tests/apiserver/start.sh)}"
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
. "$KUBE_IPVS_APISERVER_STATE/env"
n=${1:?usage: objects.sh N}
parts=${KUBE_IPVS_BENCH_CREATE_PARTS:-4}
D=$KUBE_IPVS_APISERVER_STATE/objects
mkdir -p "$D"
KC=("$KUBECTL" --kubeconfig "$KUBE_IPVS_KUBECONFIG")
log() { echo "objects: $*" >&2; }
have=$("${KC[@]}" get services -A -l '!component' --no-headers 2>/dev/null | grep -c ' svc-' || true)
printf 'apiVersion: v1\nkind: Node\nmetadata:\n  name: node1\nspec:\n  podCIDR: 10.244.1.0/24\n' | "${KC[@]}" apply -f - >/dev/null
[ "$have" -ge "$n" ] && exit 0
t0=$(date +%s)
[ "$have" = 0 ] && python3 "$repo/scripts/bench-manifests.py" "$n" 10 --namespaces --to 0 | "${KC[@]}" apply -f - >/dev/null
step=$(( (n - have + parts - 1) / parts )) pids=()
for ((k = 0; k < parts; k++)); do
    from=$((have + k * step)) to=$((have + (k + 1) * step))
    [ "$from" -ge "$n" ] && continue
    python3 "$repo/scripts/bench-manifests.py" "$n" 10 --api discovery.k8s.io/v1beta1 --from "$from" --to "$to" >"$D/objects-$k.yaml"
    "${KC[@]}" create -f "$D/objects-$k.yaml" >"$D/create-$k.log" 2>&1 &
    pids+=($!)
done
ok=1; for p in "${pids[@]}"; do wait "$p" || ok=0; done
[ $ok = 1 ] || { tail -n 5 "$D"/create-*.log >&2; log "creating Services $have..$((n - 1)) failed"; exit 1; }
secs=$(( $(date +%s) - t0 ))
log "created Services $have..$((n - 1)) and their EndpointSlices in $secs s ($parts parts)"
echo "BENCH apiserver-create services=$n created=$((n - have)) seconds=$secs parts=$parts"
