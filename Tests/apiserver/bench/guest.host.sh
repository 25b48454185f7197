#!/usr/bin/env bash
# Host hook of the daemon benchmarks' guest script (daemon-scale.sh writes a copy with the size):
# the kube-proxy user's kubeconfig, kube-proxy 1.20 (built by Tests/apiserver/build.sh) when the
# guest runs it, and the same objects as the API server holds as one JSON List for `sync -f`.
set -euo pipefail
N=@SIZE@
PROXIES="@PROXIES@"
. "${KUBE_IPVS_APISERVER_STATE:?}/env"
cp "$KUBE_IPVS_PROXY_GUEST_KUBECONFIG" "$OUT/kubeconfig"
if [[ " $PROXIES " == *" kube-proxy "* ]]; then
    bin=${KUBE_PROXY_BIN:-}
    [ -n "$bin" ] && [ -x "$bin" ] || { echo "no kube-proxy binary (${bin:-KUBE_PROXY_BIN unset}; Tests/apiserver/build.sh builds it)"; exit 1; }
    install -D -m 0755 "$bin" "$OUT/image-kube-proxy/kube-proxy"
fi
python3 "$REPO/scripts/bench-manifests.py" "$N" 10 --json >"$OUT/services.json"
python3 "$REPO/scripts/bench-manifests.py" 1 10 --json >"$OUT/warm.json"
