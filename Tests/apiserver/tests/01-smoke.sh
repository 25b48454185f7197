#!/usr/bin/env bash
# Smoke test of the real API server (run by Tests/apiserver/run.sh, which exports $STATE/env):
# the seed's web-service and its Endpoints written with kubectl and read back, the
# discovery.k8s.io/v1beta1 group and an EndpointSlice in it, a watch seeing a change, the
# certificate's validity for the guest address, and kube-proxy's RBAC for the proxy user.
set -uo pipefail
: "${KUBECTL:?run me through Tests/apiserver/run.sh}" "${KUBE_IPVS_APISERVER_URL:?}"
cd "${REPO:-.}"
. Tests/apiserver/lib/checks.sh
api() { # PATH [curl args...]: GET with the admin token
    local p=$1; shift
    curl -s --max-time 30 --cacert "$KUBE_IPVS_APISERVER_CA" \
        -H "Authorization: Bearer $KUBE_IPVS_APISERVER_TOKEN" "$@" "$KUBE_IPVS_APISERVER_URL$p"
}
tmp=$(mktemp -d)
cleanup() {
    k delete -f examples/web-service.yaml --ignore-not-found >/dev/null 2>&1
    k delete endpointslices.v1beta1.discovery.k8s.io web-service-abc12 --ignore-not-found >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT

# 1. Versions.
expect "server version" v1.20.2 "$(k version -o json 2>/dev/null | sed -n 's/.*"gitVersion": "\(v[^"]*\)".*/\1/p' | tail -n 1)"

# 2. The seed's Service and Endpoints, written and read back.
if out=$(k apply -f examples/web-service.yaml 2>&1); then ok "kubectl apply -f examples/web-service.yaml: $(echo $out)"
else bad "kubectl apply -f examples/web-service.yaml: $out"; fi
expect "service clusterIP" 10.254.10.128 "$(k get service web-service -o jsonpath='{.spec.clusterIP}' 2>&1)"
expect "service port" "TCP 80 8080" "$(k get service web-service -o jsonpath='{.spec.ports[0].protocol} {.spec.ports[0].port} {.spec.ports[0].targetPort}' 2>&1)"
expect "endpoints addresses" "10.244.1.2 10.244.1.3" "$(k get endpoints web-service -o jsonpath='{.subsets[0].addresses[*].ip}' 2>&1)"
expect "endpoints port" "TCP 8080" "$(k get endpoints web-service -o jsonpath='{.subsets[0].ports[0].protocol} {.subsets[0].ports[0].port}' 2>&1)"

# 3. What the API server made itself: the `kubernetes` Service, advertised at the guest address.
expect "kubernetes service clusterIP" 10.254.0.1 "$(k get service kubernetes -o jsonpath='{.spec.clusterIP}' 2>&1)"
expect "kubernetes endpoints" "10.0.2.100:$KUBE_IPVS_APISERVER_PORT" \
    "$(k get endpoints kubernetes -o jsonpath='{.subsets[0].addresses[0].ip}:{.subsets[0].ports[0].port}' 2>&1)"

# 4. discovery.k8s.io: v1beta1 served (1.20 has no v1), and an EndpointSlice for the service.
raw=$(k get --raw /apis/discovery.k8s.io/v1beta1 2>&1)
case $raw in
    *'"name":"endpointslices"'*) ok "GET /apis/discovery.k8s.io/v1beta1 lists endpointslices" ;;
    *) bad "GET /apis/discovery.k8s.io/v1beta1: no endpointslices resource in: $raw" ;;
esac
versions=$(k get --raw /apis/discovery.k8s.io 2>&1 | grep -o '"groupVersion": *"[^"]*"' | sed 's/.*: *//' | sort -u | tr '\n' ' ')
echo "note discovery.k8s.io versions served: $versions"
# The example is written for discovery.k8s.io/v1; the fields it uses are the same in v1beta1.
awk 'BEGIN { RS = "\n---\n" } /kind: EndpointSlice/ { print }' examples/web-service-endpointslice.yaml |
    sed 's#^apiVersion: discovery.k8s.io/v1$#apiVersion: discovery.k8s.io/v1beta1#' >"$tmp/slice.yaml"
if out=$(k apply -f "$tmp/slice.yaml" 2>&1); then ok "kubectl apply EndpointSlice (v1beta1): $out"
else bad "kubectl apply EndpointSlice (v1beta1): $out"; cat "$tmp/slice.yaml"; fi
sl=endpointslices.v1beta1.discovery.k8s.io
expect "endpointslice by service label" web-service-abc12 \
    "$(k get "$sl" -l kubernetes.io/service-name=web-service -o jsonpath='{.items[*].metadata.name}' 2>&1)"
expect "endpointslice endpoints" "10.244.1.2:true 10.244.1.3:true" \
    "$(k get "$sl" web-service-abc12 -o jsonpath='{range .endpoints[*]}{.addresses[0]}:{.conditions.ready} {end}' 2>&1 | sed 's/ $//')"
expect "endpointslice port" "IPv4 TCP 8080" \
    "$(k get "$sl" web-service-abc12 -o jsonpath='{.addressType} {.ports[0].protocol} {.ports[0].port}' 2>&1)"

# 5. A watch (what the daemon will do): list, watch from that resourceVersion, change, see it.
rv=$(api /api/v1/namespaces/default/endpoints | sed -n 's/.*"resourceVersion": *"\([0-9]*\)".*/\1/p' | head -n 1)
if [ -z "$rv" ]; then bad "list endpoints: no resourceVersion"; else
    api "/api/v1/namespaces/default/endpoints?watch=1&resourceVersion=$rv&timeoutSeconds=15" -N >"$tmp/watch" &
    wpid=$!
    sleep 1
    k patch endpoints web-service --type=json \
        -p '[{"op":"add","path":"/subsets/0/addresses/-","value":{"ip":"10.244.1.4"}}]' >/dev/null 2>&1 ||
        bad "kubectl patch endpoints web-service failed"
    for _ in $(seq 1 40); do grep -q '10.244.1.4' "$tmp/watch" && break; sleep 0.25; done
    if grep '"type":"MODIFIED"' "$tmp/watch" | grep -q '10.244.1.4'; then
        ok "watch from resourceVersion $rv saw MODIFIED endpoints with 10.244.1.4"
    else bad "watch from resourceVersion $rv: no MODIFIED event with 10.244.1.4 in: $(head -c 600 "$tmp/watch")"; fi
    kill "$wpid" 2>/dev/null; wait "$wpid" 2>/dev/null
fi

# 6. The guest's view: its kubeconfig names 10.0.2.100:6443 and the certificate is valid for it
#    (checked through loopback: curl connects to 127.0.0.1 but verifies the name 10.0.2.100).
expect "guest kubeconfig server" https://10.0.2.100:6443 \
    "$(k --kubeconfig "$KUBE_IPVS_GUEST_KUBECONFIG" config view -o jsonpath='{.clusters[0].cluster.server}' 2>&1)"
code=$(curl -s --max-time 30 -o /dev/null -w '%{http_code}' --cacert "$KUBE_IPVS_APISERVER_CA" \
    --connect-to "10.0.2.100:6443:127.0.0.1:$KUBE_IPVS_APISERVER_PORT" \
    -H "Authorization: Bearer $KUBE_IPVS_APISERVER_TOKEN" https://10.0.2.100:6443/api/v1/namespaces/default 2>&1)
expect "TLS as https://10.0.2.100:6443 (via loopback)" 200 "$code"

# 7. The proxy user (system:kube-proxy) has kube-proxy's rights and no more.
kp() { k --kubeconfig "$KUBE_IPVS_PROXY_KUBECONFIG" "$@"; }
for verb_res in "list services" "watch services" "list endpoints" "watch endpoints" \
                "list endpointslices.discovery.k8s.io" "watch endpointslices.discovery.k8s.io" "get nodes"; do
    # shellcheck disable=SC2086
    expect "system:kube-proxy can $verb_res" yes "$(kp auth can-i $verb_res 2>/dev/null)"
done
expect "system:kube-proxy cannot create services" no "$(kp auth can-i create services 2>/dev/null)"
expect "system:kube-proxy lists services" "kubernetes web-service" \
    "$(kp get services -o jsonpath='{.items[*].metadata.name}' 2>&1)"

checks_done
echo "all checks passed"
