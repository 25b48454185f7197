#!/usr/bin/env bash
# `kube-ipvs status --kubeconfig` against this API server (issue 8: the desired state listed once
# from the API): the seed's Service and an EndpointSlice for it are created, then status runs in a
# fresh network namespace of its own (read-only there, and the host's own state is never read),
# which reaches the API server through a socat bridge (a Unix socket on the host side). The
# namespace's kernel holds nothing, so every wanted virtual server is "missing" with its Service
# port and its real servers, and the drift is what sync would apply.
set -uo pipefail
: "${KUBECTL:?run me through Tests/apiserver/run.sh}" "${KUBE_IPVS_APISERVER_PORT:?}"
cd "${REPO:-.}"
command -v socat >/dev/null || { echo "socat missing (scripts/install-deps.sh)"; exit 77; }
. Tests/apiserver/lib/checks.sh
host_kube_ipvs

dir=$(mktemp -d)
sock=$dir/api.sock
cleanup() {
    [ -n "${bridge:-}" ] && kill "$bridge" 2>/dev/null
    k delete -f "$dir/objects.yaml" --ignore-not-found >/dev/null 2>&1
    rm -rf "$dir"
}
trap cleanup EXIT
{ sed -n '1,/^---/p' examples/web-service.yaml | sed '$d'; cat <<'EOF'
---
apiVersion: discovery.k8s.io/v1beta1
kind: EndpointSlice
metadata:
  name: web-service-a
  namespace: default
  labels: {kubernetes.io/service-name: web-service}
addressType: IPv4
ports: [{port: 8080, protocol: TCP}]
endpoints:
- addresses: [10.244.1.2]
  conditions: {ready: true}
- addresses: [10.244.1.3]
  conditions: {ready: true}
EOF
} >"$dir/objects.yaml"
k apply -f "$dir/objects.yaml" >/dev/null || { echo "kubectl apply failed"; exit 1; }

socat "UNIX-LISTEN:$sock,fork" "TCP:127.0.0.1:$KUBE_IPVS_APISERVER_PORT" &
bridge=$!
for _ in $(seq 1 50); do [ -S "$sock" ] && break; sleep 0.1; done
# status_in_netns ARGS...: kube-ipvs status in a fresh network namespace whose 127.0.0.1:PORT is
# the API server.
status_in_netns() {
    unshare -n bash -c '
        ip link set lo up
        socat TCP-LISTEN:'"$KUBE_IPVS_APISERVER_PORT"',bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:'"$sock"' &
        for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/'"$KUBE_IPVS_APISERVER_PORT"') 2>/dev/null && break; sleep 0.1; done
        "$@"; rc=$?
        kill %1
        exit $rc' status "$bin" status --kubeconfig "$KUBE_IPVS_KUBECONFIG" --hostname-override node1 --cluster-cidr 10.244.0.0/16 "$@"
}

text=$(status_in_netns 2>&1); rc=$?
echo "$text" | sed -n '1,8p' | sed 's/^/     | /'
[ $rc = 0 ] && ok "status exits 0" || bad "status exited $rc"
case $text in *"desired state from kubeconfig"*) ok "the desired state came from the API server" ;; *) bad "no 'desired state from kubeconfig' in the output" ;; esac
case $text in *"TCP  10.254.10.128:80 rr  [missing: default/web-service:80]"*) ok "the seed's virtual server, labelled with its Service port, missing" ;;
    *) bad "no missing default/web-service:80 virtual server" ;; esac

json=$(status_in_netns --output json 2>/dev/null)
if printf '%s' "$json" | python3 -c '
import json, sys
d = json.load(sys.stdin)
vs = [v for v in d["virtualServers"] if v["address"] == "10.254.10.128" and v["port"] == 80]
assert len(vs) == 1, vs
v = vs[0]
assert v["service"] == "default/web-service:80" and v["state"] == "missing", v
rs = sorted(r["address"] + ":" + str(r["port"]) for r in v["realServers"])
assert rs == ["10.244.1.2:8080", "10.244.1.3:8080"], rs
assert d["drift"]["inStep"] is False and len(d["drift"]["operations"]) > 0, d["drift"]["summary"]
print(d["drift"]["summary"])
' >"$dir/json.out" 2>&1; then
    ok "--output json: the virtual server, its two real servers from the EndpointSlice, drift: $(cat "$dir/json.out")"
else
    bad "--output json: $(tail -n 3 "$dir/json.out")"
fi
checks_done
