#!/usr/bin/env bash
# `kube-ipvs run --dry-run` on the host against this API server (no kernel change; quick): with
# EndpointSlices, which Kubernetes 1.20 serves only as discovery.k8s.io/v1beta1, so the daemon must
# find v1beta1 through API discovery. Checks the first sync, one change (a third endpoint: exactly
# one `ipvsadm -a`), the Service's deletion, and that SIGTERM ends the daemon with status 0.
set -uo pipefail
: "${KUBE_IPVS_APISERVER_STATE:?run me through Tests/apiserver/run.sh}"
cd "${REPO:-.}"
. Tests/apiserver/lib/checks.sh
host_kube_ipvs
d=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; rm -rf "$d"; "$KUBECTL" delete service web-service --ignore-not-found >/dev/null 2>&1; "$KUBECTL" delete endpointslice web-service-abc12 --ignore-not-found >/dev/null 2>&1' EXIT

free_port() { p=$1; while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done; echo "$p"; }
hport=$(free_port 31256); mport=$(free_port $((hport + 1)))

# The seed as a Service + a v1beta1 EndpointSlice (the example's v1 slice, relabelled).
sed 's#discovery.k8s.io/v1$#discovery.k8s.io/v1beta1#' examples/web-service-endpointslice.yaml >"$d/seed.yaml"
"$KUBECTL" apply -f "$d/seed.yaml" >/dev/null || { echo "kubectl apply failed"; exit 1; }
slice_name=$("$KUBECTL" get endpointslices -l kubernetes.io/service-name=web-service -o name | head -n 1)

"$bin" run --kubeconfig "$KUBE_IPVS_PROXY_KUBECONFIG" --dry-run --cluster-cidr 10.244.0.0/16 --hostname-override node1 \
    --healthz-bind-address "127.0.0.1:$hport" --metrics-bind-address "127.0.0.1:$mport" >"$d/out" 2>"$d/err" &
pid=$!
wait_for() { for _ in $(seq 1 100); do grep -q -- "$1" "$2" && return 0; sleep 0.1; done; return 1; }

wait_for "first sync: applied" "$d/err" || bad "no first sync within 10 s"
grep -q "watching EndpointSlices as discovery.k8s.io/v1beta1" "$d/err" || bad "the daemon did not pick discovery.k8s.io/v1beta1"
grep -q -- "-A -t 10.254.10.128:80 -s rr" "$d/out" || bad "the first sync has no virtual server for the seed"
[ "$(grep -c -- '-a -t 10.254.10.128:80 -r' "$d/out")" = 2 ] || bad "the first sync does not add 2 real servers"

# Health and metrics.
code=$(curl -s -o "$d/healthz" -w '%{http_code}' "http://127.0.0.1:$hport/healthz")
[ "$code" = 200 ] && grep -Eq '"nodeEligible": ?true' "$d/healthz" || bad "/healthz: $code $(cat "$d/healthz")"
curl -s "http://127.0.0.1:$mport/metrics" >"$d/metrics"
grep -q '^kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family="IPv4"} 1$' "$d/metrics" || bad "/metrics does not count 1 IPv4 sync: $(grep proxy_rules_duration_seconds_count "$d/metrics")"
grep -q '^kubeproxy_sync_proxy_rules_service_changes_total [1-9]' "$d/metrics" || bad "/metrics has no service changes"

# One endpoint more: the next sync is exactly one ipvsadm -a.
"$KUBECTL" patch "$slice_name" --type=json -p '[{"op":"add","path":"/endpoints/-","value":{"addresses":["10.244.1.4"],"conditions":{"ready":true}}}]' >/dev/null
wait_for "sync 2 of node" "$d/out" || bad "no second sync after the EndpointSlice change"
sleep 0.3
sync2=$(sed -n '/sync 2 of node/,$p' "$d/out" | grep -E '^(ipvsadm|ipset|ip |iptables|modprobe|sysctl)')
[ "$sync2" = "ipvsadm -a -t 10.254.10.128:80 -r 10.244.1.4:8080 -m -w 1" ] || bad "the second sync is not one ipvsadm -a: $sync2"

# Deleting the Service removes its virtual server.
"$KUBECTL" delete service web-service >/dev/null
wait_for "ipvsadm -D -t 10.254.10.128:80" "$d/out" || bad "no ipvsadm -D after the Service was deleted"

kill -TERM "$pid"; wait "$pid"; rc=$?
[ "$rc" = 0 ] || bad "exit status $rc after SIGTERM, expected 0"
grep -q "stopped; the kernel state is left as it is" "$d/err" || bad "no 'stopped' line after SIGTERM"
if [ "$nfail" != 0 ]; then echo "--- stderr"; cat "$d/err"; echo "--- stdout"; grep -v '^$' "$d/out" | tail -n 40; exit 1; fi
echo "run --dry-run: first sync, /healthz and /metrics, one change = 1 ipvsadm -a, deletion, SIGTERM exit 0"
