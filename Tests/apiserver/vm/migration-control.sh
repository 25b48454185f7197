#!/usr/bin/env bash
# The host side of the migration test's control channel (as vm/daemon-control.sh for 03): QEMU's
# guestfwd runs it for each connection the guest makes to 10.0.2.100:7000; the guest sends one
# line, this script acts on the API server and answers "ok" or "error ...". Logged to $D/control.log.
#   delete-extra    delete Service default/migrate-extra with its Endpoints and EndpointSlice
# D and STATE are written into the copy 07-migration.sh makes.
D=@D@
STATE=@STATE@
set -uo pipefail
. "$STATE/env"
exec 2>>"$D/control.log"
read -r verb rest || exit 0
echo "$(date +%T.%N) <- $verb $rest" >&2
answer() { echo "$(date +%T.%N) -> $*" >&2; echo "$*"; }
case $verb in
    delete-extra)
        # (the API server deletes the Service's Endpoints with it: hence --ignore-not-found)
        if "$KUBECTL" --kubeconfig "$KUBE_IPVS_KUBECONFIG" -n default delete --ignore-not-found service/migrate-extra \
               endpoints/migrate-extra endpointslices.discovery.k8s.io/migrate-extra-1 >&2; then
            answer ok
        else
            answer "error kubectl delete failed"
        fi ;;
    *) answer "error unknown verb '$verb'" ;;
esac
