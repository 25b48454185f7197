#!/usr/bin/env bash
# Host hook of the daemon end-to-end guest test (Tests/apiserver/tests/03-daemon-e2e.sh writes a
# copy next to the guest test): hands the guest the kube-proxy user's kubeconfig and makes sure
# the seed's objects do not exist yet (the guest creates them through the control channel).
set -euo pipefail
env=${KUBE_IPVS_APISERVER_STATE:-/tmp/kube-ipvs-apiserver}/env
[ -f "$env" ] || { echo "no API server running (no $env)"; exit 77; }
. "$env"
cp "$KUBE_IPVS_PROXY_GUEST_KUBECONFIG" "$OUT/kubeconfig"
"$KUBECTL" --kubeconfig "$KUBE_IPVS_KUBECONFIG" delete service web-service --ignore-not-found >/dev/null
"$KUBECTL" --kubeconfig "$KUBE_IPVS_KUBECONFIG" delete endpoints web-service --ignore-not-found >/dev/null
