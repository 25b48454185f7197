#!/usr/bin/env bash
# kube-ipvs's lists and watches in protobuf (kube-proxy's default clientConnection.contentType)
# against the real 1.20 API server: `kube-ipvs run --dry-run` as system:kube-proxy, once with the
# default and once with `--kube-api-content-type application/json`. The encoding is proven on both
# ends: the daemon's "listed N objects ... (protobuf)" lines and its traces of each response's
# Content-Type (-v 6), and the server's apiserver_request_total by contentType. Both runs must
# program the same: the first sync, and the sync after a change that arrives by the watch, print
# the same commands. Objects use the fields whose protobuf mapping matters (a named targetPort,
# ClientIP affinity, externalTrafficPolicy Local with its healthCheckNodePort, a Node with
# addresses, a taint and pod CIDRs, endpoints not ready).
set -uo pipefail
: "${KUBE_IPVS_APISERVER_STATE:?run me through Tests/apiserver/run.sh}"
cd "${REPO:-.}"
. Tests/apiserver/lib/checks.sh
host_kube_ipvs
d=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    k delete -f "$d/objects.yaml" --ignore-not-found >/dev/null 2>&1
    rm -rf "$d"
}
trap cleanup EXIT

free_port() { p=$1; while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done; echo "$p"; }
wait_for() { for _ in $(seq 1 150); do grep -q -- "$1" "$2" && return 0; sleep 0.1; done; return 1; }
api() { curl -s --max-time 30 --cacert "$KUBE_IPVS_APISERVER_CA" -H "Authorization: Bearer $KUBE_IPVS_APISERVER_TOKEN" "$KUBE_IPVS_APISERVER_URL$1"; }
# requests VERB RESOURCE CONTENT-TYPE: the server's count of such requests so far (a watch is
# counted when it ends, with code 0).
requests() {
    api /metrics | grep '^apiserver_request_total{' | grep "verb=\"$1\"" | grep "resource=\"$2\"" |
        grep "contentType=\"$3\"" | awk '{ s += $NF } END { print s + 0 }'
}

cat >"$d/objects.yaml" <<'EOF'
apiVersion: v1
kind: Service
metadata: {name: pb-web, namespace: default, labels: {app: pb-web}, annotations: {kube-ipvs.io/scheduler: wrr}}
spec:
  type: ClusterIP
  clusterIP: 10.254.20.10
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}
  ports: [{name: http, port: 80, protocol: TCP, targetPort: web}, {name: dns, port: 53, protocol: UDP, targetPort: 5353}]
---
apiVersion: v1
kind: Service
metadata: {name: pb-lb, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.254.20.11
  externalTrafficPolicy: Local
  externalIPs: [192.0.2.10]
  ports: [{name: http, port: 8080, protocol: TCP, targetPort: 8080, nodePort: 30808}]
---
apiVersion: discovery.k8s.io/v1beta1
kind: EndpointSlice
metadata: {name: pb-web-1, namespace: default, labels: {kubernetes.io/service-name: pb-web}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}, {name: dns, port: 5353, protocol: UDP}]
endpoints:
- addresses: [10.244.2.2]
  conditions: {ready: true}
  topology: {kubernetes.io/hostname: node1}
- addresses: [10.244.2.3]
  conditions: {ready: false}
---
apiVersion: discovery.k8s.io/v1beta1
kind: EndpointSlice
metadata: {name: pb-lb-1, namespace: default, labels: {kubernetes.io/service-name: pb-lb}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- addresses: [10.244.3.2]
  conditions: {ready: true}
  topology: {kubernetes.io/hostname: node1}
---
apiVersion: v1
kind: Node
metadata: {name: node1, labels: {kubernetes.io/hostname: node1}}
spec:
  podCIDR: 10.244.1.0/24
  podCIDRs: [10.244.1.0/24]
  taints: [{key: example.com/pb, value: "yes", effect: PreferNoSchedule}]
status:
  addresses: [{type: InternalIP, address: 192.168.77.1}, {type: Hostname, address: node1}]
EOF
out=$(k apply -f "$d/objects.yaml" 2>&1) || { echo "kubectl apply failed: $out"; exit 1; }
hc=$(k get service pb-lb -o jsonpath='{.spec.healthCheckNodePort}')
[ -n "$hc" ] && ok "pb-lb has healthCheckNodePort $hc" || bad "pb-lb has no healthCheckNodePort"

# run MODE [FLAGS...]: the daemon until the sync after one watched change; its commands in $d/MODE.cmds.
run() {
    local mode=$1; shift
    local hport mport
    hport=$(free_port 31356); mport=$(free_port $((hport + 1)))
    "$bin" run --kubeconfig "$KUBE_IPVS_PROXY_KUBECONFIG" --dry-run --cluster-cidr 10.244.0.0/16 --hostname-override node1 \
        --healthz-bind-address "127.0.0.1:$hport" --metrics-bind-address "127.0.0.1:$mport" --v 6 "$@" \
        >"$d/$mode.out" 2>"$d/$mode.err" &
    pid=$!
    wait_for "first sync: applied" "$d/$mode.err" || bad "$mode: no first sync within 15 s"
    # The change reaches the daemon only through its EndpointSlice watch.
    k patch endpointslices.v1beta1.discovery.k8s.io pb-web-1 --type=json \
        -p '[{"op":"add","path":"/endpoints/-","value":{"addresses":["10.244.2.4"],"conditions":{"ready":true}}}]' >/dev/null
    wait_for "sync 2 of node" "$d/$mode.out" || bad "$mode: no second sync after the EndpointSlice change"
    sleep 0.3
    kill -TERM "$pid"; wait "$pid"; local rc=$?; pid=
    [ "$rc" = 0 ] || bad "$mode: exit status $rc after SIGTERM"
    k patch endpointslices.v1beta1.discovery.k8s.io pb-web-1 --type=json -p '[{"op":"remove","path":"/endpoints/2"}]' >/dev/null
    grep -E '^(ipvsadm|ipset|ip |iptables|modprobe|sysctl)|sync [0-9]+ of node' "$d/$mode.out" |
        sed 's/^\(.*sync [0-9]* of node\).*/\1/' >"$d/$mode.cmds"
}

# listed RESOURCE-PATH ENCODING MODE: the daemon's info line for the list of that collection.
listed() { grep -q "$1: listed [0-9]* objects in [0-9]* page(s) in [0-9]* ms at resourceVersion [0-9]* ($2)" "$d/$3.err"; }

pb=application/vnd.kubernetes.protobuf
before=$(for r in services endpointslices nodes; do echo "$(requests LIST $r $pb) $(requests WATCH $r "$pb;stream=watch")"; done)
run protobuf
# The daemon's watches end with it; the server counts them once it has seen the connections close.
for _ in $(seq 1 50); do
    after=$(for r in services endpointslices nodes; do echo "$(requests LIST $r $pb) $(requests WATCH $r "$pb;stream=watch")"; done)
    # Done when each of the three WATCH counts has moved.
    [ "$(paste -d ' ' <(awk '{ print $2 }' <<<"$before") <(awk '{ print $2 }' <<<"$after") | awk '$2 > $1' | wc -l)" = 3 ] && break
    sleep 0.2
done
for path in /api/v1/services /apis/discovery.k8s.io/v1beta1/endpointslices /api/v1/nodes; do
    listed "$path" protobuf protobuf && ok "default: $path listed in protobuf" || bad "default: no 'listed ... (protobuf)' line for $path"
    grep -q "GET $path: HTTP 200 ($pb;stream=watch)" "$d/protobuf.err" && ok "default: $path watched in protobuf" ||
        bad "default: no watch of $path answered in $pb;stream=watch"
done
i=0
for r in services endpointslices nodes; do
    i=$((i + 1))
    read -r l0 w0 <<<"$(sed -n "${i}p" <<<"$before")"; read -r l1 w1 <<<"$(sed -n "${i}p" <<<"$after")"
    [ "$l1" -gt "$l0" ] && ok "server: LIST $r answered in protobuf ($l0 -> $l1)" || bad "server: no LIST $r in protobuf ($l0 -> $l1)"
    [ "$w1" -gt "$w0" ] && ok "server: WATCH $r answered in protobuf ($w0 -> $w1)" || bad "server: no WATCH $r in protobuf ($w0 -> $w1)"
done

jbefore=$(requests LIST services application/json); pbefore=$(requests LIST services $pb)
run json --kube-api-content-type application/json
jafter=$(requests LIST services application/json); pafter=$(requests LIST services $pb)
for path in /api/v1/services /apis/discovery.k8s.io/v1beta1/endpointslices /api/v1/nodes; do
    listed "$path" json json && ok "json: $path listed in JSON" || bad "json: no 'listed ... (json)' line for $path"
done
grep -q "HTTP 200 ($pb" "$d/json.err" && bad "json: a response in protobuf although JSON was asked for"
[ "$jafter" -gt "$jbefore" ] && [ "$pafter" = "$pbefore" ] && ok "server: the JSON run listed services in JSON only" ||
    bad "server: LIST services json $jbefore -> $jafter, protobuf $pbefore -> $pafter"

# Same objects, same programming.
grep -q -- "-A -t 10.254.20.10:80 -s wrr -p 600" "$d/protobuf.cmds" || bad "protobuf: no wrr virtual server with ClientIP affinity for pb-web"
grep -q -- "-a -t 10.254.20.10:80 -r 10.244.2.4:8080" "$d/protobuf.cmds" || bad "protobuf: the watched endpoint 10.244.2.4 was not added"
if diff "$d/protobuf.cmds" "$d/json.cmds" >"$d/diff"; then
    ok "protobuf and JSON runs program the same ($(grep -c . "$d/protobuf.cmds") lines: first sync and the watched change)"
else bad "protobuf and JSON runs differ:"; cat "$d/diff"; fi

if [ "$nfail" != 0 ]; then
    for m in protobuf json; do echo "--- $m stderr"; grep -v 'trace' "$d/$m.err" | tail -n 30; echo "--- $m commands"; cat "$d/$m.cmds"; done
    exit 1
fi
echo "protobuf lists and watches of Services, EndpointSlices and the Node; the same programming as with JSON"
