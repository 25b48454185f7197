#!/usr/bin/env bash
# Host hook of the guest-reach test: the API server must be running (Tests/apiserver/start.sh;
# its env file in $KUBE_IPVS_APISERVER_STATE, default /tmp/kube-ipvs-apiserver). Creates the seed's
# Service with kubectl and hands the guest its kubeconfig and token.
set -euo pipefail
env=${KUBE_IPVS_APISERVER_STATE:-/tmp/kube-ipvs-apiserver}/env
[ -f "$env" ] || { echo "no API server running (no $env): start one with Tests/apiserver/start.sh"; exit 77; }
. "$env"
"$KUBECTL" --kubeconfig "$KUBE_IPVS_KUBECONFIG" apply -f "$REPO/examples/web-service.yaml"
cp "$KUBE_IPVS_GUEST_KUBECONFIG" "$OUT/kubeconfig-guest"
cp "$KUBE_IPVS_APISERVER_STATE/token" "$OUT/token"
