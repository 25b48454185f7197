#!/usr/bin/env bash
# Host side of the daemon-scale benchmark's control channel (as Tests/apiserver/vm/daemon-control.sh):
# QEMU's guestfwd runs this for each connection to 10.0.2.100:7000; the guest sends one line, this
# answers one line, "ok ..." or "error ...". Logged to $D/control.log.
#   change I IP     Service I's EndpointSlice with its first endpoint replaced by IP
# D and STATE are written into the copy that daemon-scale.sh makes.
D=@D@
STATE=@STATE@
set -uo pipefail
. "$STATE/env"
exec 2>>"$D/control.log"
read -r verb a b || exit 0
echo "$(date +%T.%N) <- $verb $a $b" >&2
answer() { echo "$(date +%T.%N) -> $*" >&2; echo "$*"; }
case $verb in
    change)
        if python3 "$D/bench-manifests.py" "$(cat "$D/size")" 10 --api discovery.k8s.io/v1beta1 --endpoint-ip "$a=$b" |
            "$KUBECTL" --kubeconfig "$KUBE_IPVS_KUBECONFIG" apply -f - >&2; then answer ok; else answer error kubectl apply; fi ;;
    *) answer "error unknown verb $verb" ;;
esac
