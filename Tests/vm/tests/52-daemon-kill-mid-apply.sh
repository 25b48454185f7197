#!/bin/sh
# Traffic through daemon restarts: the seed's web-service is programmed and client1 sends requests
# to its VIP without pause while `kube-ipvs run`, whose first sync programs 1,000 more Services,
# is SIGKILLed again and again in the middle of that first apply and started again, until one run
# logs its first sync. Promises: no request fails, the node converges to every Service, and a
# restart after that applies 0 operations.
# The API is a static one (busybox httpd on the guest's loopback serving the lists, with
# `--endpoints-source endpoints`, so no discovery): every list succeeds, every watch fails and is
# retried with backoff, which changes nothing here: the Services never change.
# vm: needs-binary fresh-boot timeout=1200
. /vm/lib/traffic.sh

VIP=10.254.10.128
N=${KILL_TEST_SERVICES:-1000}
API=127.0.0.1:8081
traffic_setup
sync_or_fail /vm/examples/web-service.yaml
expect_vs "TCP  $VIP:80" 10.244.1.2:8080 10.244.1.3:8080

# The lists: the seed's Service and Endpoints, N more Services (eight endpoints each: the two pods
# and six addresses nobody answers on; only the seed's VIP carries traffic) and the Node.
mkdir -p /srv/api/api/v1
svc() {  # NAMESPACE NAME CLUSTER-IP
    printf '{"metadata":{"name":"%s","namespace":"%s","resourceVersion":"1"},"spec":{"type":"ClusterIP","clusterIP":"%s","ports":[{"protocol":"TCP","port":80,"targetPort":8080}]}}' "$2" "$1" "$3"
}
eps() {  # NAMESPACE NAME IP...
    _ns=$1 _name=$2; shift 2
    _a=""; for _ip in "$@"; do _a="$_a${_a:+,}{\"ip\":\"$_ip\",\"nodeName\":\"node1\"}"; done
    printf '{"metadata":{"name":"%s","namespace":"%s","resourceVersion":"1"},"subsets":[{"addresses":[%s],"ports":[{"port":8080,"protocol":"TCP"}]}]}' "$_name" "$_ns" "$_a"
}
{
    printf '{"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":['
    svc default web-service $VIP
    i=0; while [ $i -lt "$N" ]; do printf ','; svc load "s$i" "10.255.$((i / 250)).$((i % 250 + 1))"; i=$((i + 1)); done
    printf ']}\n'
} >/srv/api/api/v1/services
{
    printf '{"kind":"EndpointsList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":['
    eps default web-service 10.244.1.2 10.244.1.3
    i=0; while [ $i -lt "$N" ]; do
        printf ','; eps load "s$i" 10.244.1.2 10.244.1.3 10.244.2.1 10.244.2.2 10.244.2.3 10.244.2.4 10.244.2.5 10.244.2.6
        i=$((i + 1))
    done
    printf ']}\n'
} >/srv/api/api/v1/endpoints
printf '{"kind":"NodeList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[{"metadata":{"name":"node1","resourceVersion":"1"},"status":{"addresses":[{"type":"InternalIP","address":"192.168.50.1"}]}}]}\n' \
    >/srv/api/api/v1/nodes
httpd -p "$API" -h /srv/api || die "httpd did not start"
cat >kubeconfig <<K
apiVersion: v1
kind: Config
clusters: [{name: static, cluster: {server: "http://$API"}}]
users: [{name: none, user: {}}]
contexts: [{name: static, context: {cluster: static, user: none}}]
current-context: static
K
want=$((N + 1))

start_daemon() {  # LOG
    kube-ipvs run --kubeconfig kubeconfig --config "$KUBE_IPVS_CONFIG" --hostname-override node1 \
        --iptables-backend legacy --endpoints-source endpoints >"$1" 2>&1 &
    DAEMON=$!
}

steady_traffic_start "http://$VIP/name" 4000 900

# Each run is killed as soon as the kernel shows it progressing (the first two), then a little
# later (0.2, 0.4, 0.6 s), until a run logs its first sync (at most 20 runs, 5 minutes each).
kills=0 partial=0 run=0 done_=0
while [ $run -lt 20 ]; do
    run=$((run + 1))
    before=$(apply_progress)
    start_daemon "daemon-$run.log"
    t=0
    while kill -0 $DAEMON 2>/dev/null && [ "$(apply_progress)" = "$before" ] && ! grep -q "first sync:" "daemon-$run.log" && [ $t -lt 3000 ]; do
        sleep 0.1; t=$((t + 1))
    done
    extra=$(( run <= 2 ? 0 : (run - 2) % 4 * 200 ))
    sleep "$((extra / 1000)).$(printf %03d $((extra % 1000)))"
    if grep -q "first sync: applied" "daemon-$run.log"; then
        show "run $run: first sync" "daemon-$run.log"
        done_=1
        break
    fi
    if ! kill -0 $DAEMON 2>/dev/null; then
        show "run $run ended by itself" "daemon-$run.log"; note_fail "the daemon exited on its own in run $run"; break
    fi
    kill -9 $DAEMON; wait $DAEMON 2>/dev/null
    kills=$((kills + 1))
    n=$(vs_count)
    [ "$n" -lt "$want" ] && partial=$((partial + 1))
    echo "  run $run: SIGKILL ${extra} ms into the apply, $n of $want virtual servers programmed"
done
[ $done_ = 1 ] || note_fail "no run reached its first sync within $run runs"
[ $partial -ge 1 ] || note_fail "no SIGKILL fell inside the apply ($kills kills; the test proves nothing)"
n=$(vs_count)
[ "$n" = "$want" ] && echo "  ok: $n virtual servers after the restarts" || note_fail "expected $want virtual servers, found $n"

# A clean stop, and a start on the converged node: its first sync applies nothing.
kill -TERM $DAEMON; wait $DAEMON
start_daemon daemon-again.log
t=0; while ! grep -q "first sync:" daemon-again.log && [ $t -lt 3000 ]; do sleep 0.1; t=$((t + 1)); done
expect_match daemon-again.log "first sync: applied 0 operations" "a restart on the converged node applies 0 operations"
kill -TERM $DAEMON; wait $DAEMON

steady_traffic_stop
echo "  traffic: $traffic_sent requests to $VIP:80 through $kills SIGKILLs of the daemon ($partial mid-apply): $(tally traffic.txt)"
echo "FIGURES daemon-kill-mid-apply services=$N kills=$kills mid_apply=$partial requests=$traffic_sent failed=$traffic_failed"
finish
