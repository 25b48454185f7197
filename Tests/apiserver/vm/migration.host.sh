#!/usr/bin/env bash
# Host hook of the migration guest test (Tests/apiserver/tests/07-migration.sh writes a copy next
# to the guest test): hands the guest the kube-proxy user's kubeconfig and the kube-proxy 1.20
# binary that Tests/apiserver/build.sh built. The Service and its endpoints are made by 07.
set -euo pipefail
env=${KUBE_IPVS_APISERVER_STATE:-/tmp/kube-ipvs-apiserver}/env
[ -f "$env" ] || { echo "no API server running (no $env)"; exit 77; }
. "$env"
bin=${KUBE_PROXY_BIN:-}
[ -n "$bin" ] && [ -x "$bin" ] || { echo "no kube-proxy binary (${bin:-KUBE_PROXY_BIN unset}; Tests/apiserver/build.sh builds it)"; exit 77; }
cp "$KUBE_IPVS_PROXY_GUEST_KUBECONFIG" "$OUT/kubeconfig"
install -D -m 0755 "$bin" "$OUT/image-kube-proxy/kube-proxy"
