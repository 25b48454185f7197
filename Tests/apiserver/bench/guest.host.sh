#!/usr/bin/env bash
# Host hook of the daemon-scale guest script: the kube-proxy user's kubeconfig.
set -euo pipefail
. "${KUBE_IPVS_APISERVER_STATE:?}/env"
cp "$KUBE_IPVS_PROXY_GUEST_KUBECONFIG" "$OUT/kubeconfig"
