#!/bin/sh
# `kube-ipvs run` end to end (issue 5's acceptance): the daemon runs in the guest against the real
# kube-apiserver on the host (through QEMU's guestfwd at 10.0.2.100:6443, as user
# system:kube-proxy) and programs the guest's real kernel. The guest drives the API server through
# a control channel (10.0.2.100:7000, Tests/apiserver/vm/daemon-control.sh on the host):
#   1. the seed's Service and Endpoints are programmed and answer round-robin;
#   2. Endpoints 2 -> 3 -> 1 are reflected within 1 s each (weight 0 for removed TCP real servers at
#      once; an idle one is deleted, one with connections drains at weight 0 and gets its weight
#      back when its endpoint returns); deleting the Service removes its virtual server, address
#      and set entries within 1 s;
#   3. with the API server stopped for 30 s traffic keeps flowing; a change made meanwhile through
#      a second API server (same etcd) is applied after the first one returns;
#   4. SIGTERM leaves every rule in place (ipvsadm, ipset, iptables and kube-ipvs0 identical) and
#      the next start applies 0 operations; /healthz, /livez and /metrics answer.
# Template: 03-daemon-e2e.sh writes a copy with the real ports.
# vm: needs-binary timeout=1500 qemu=-netdev 'user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:6443-cmd:socat - TCP:127.0.0.1:@PORT@,guestfwd=tcp:10.0.2.100:7000-cmd:bash @CONTROL@' -device virtio-net-pci,netdev=n0
. /vm/lib/testlib.sh
. /vm/lib/pods.sh

VIP=10.254.10.128
LIMIT=1.0   # seconds from the API server's answer to the kernel holding the change

user_net_up

uptime_() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(uptime_)" 'BEGIN { printf "%.2f", b - a }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

ctl() {  # ctl VERB ARGS...: run a step on the host; prints its answer
    r=$(echo "$*" | timeout 300 nc 10.0.2.100 7000 2>&1)
    echo "  host: $* -> $r" >&2
    case $r in ok*) return 0 ;; *) note_fail "host step '$*' answered '$r'"; return 1 ;; esac
}

# The real servers of the VIP with weight > 0, and all of them, as sorted "ip:port" lists.
active() { ipvsadm -Sn 2>/dev/null | awk -v vs="$VIP:80" '$1 == "-a" && $3 == vs && $NF != "0" { print $5 }' | sort | tr '\n' ' '; }
present() { ipvsadm -Sn 2>/dev/null | awk -v vs="$VIP:80" '$1 == "-a" && $3 == vs { print $5 }' | sort | tr '\n' ' '; }
has_vs() { ipvsadm -Sn 2>/dev/null | grep -q -- "-A -t $VIP:80 "; }

# wait_for WHAT SECONDS CONDITION...: polls CONDITION (a shell command) every 20 ms; prints the
# time it took; fails after SECONDS.
wait_for() {
    what=$1 limit=$2; shift 2
    _w0=$(uptime_)
    while ! eval "$*"; do
        if ! le "$(since "$_w0")" "$limit"; then echo "TIMEOUT"; return 1; fi
        sleep 0.02
    done
    since "$_w0"
}

# change STEP-NAME CONDITION HOST-VERB ARGS...: makes the change on the host, then times how long
# the kernel takes to show it; must be within LIMIT.
change() {
    name=$1 cond=$2; shift 2
    ctl "$@" || return 1
    took=$(wait_for "$name" 10 "$cond")
    if [ "$took" = TIMEOUT ]; then
        note_fail "$name: not reflected within 10 s (active real servers: $(active); present: $(present))"
    elif le "$took" "$LIMIT"; then
        echo "  ok: $name reflected in ${took} s"
    else
        note_fail "$name: reflected in ${took} s, more than ${LIMIT} s"
    fi
}

start_daemon() {  # start_daemon LOG
    kube-ipvs run --kubeconfig kubeconfig --cluster-cidr 10.244.0.0/16 --hostname-override node1 \
        --endpoints-source endpoints --iptables-backend legacy --v 6 \
        --healthz-bind-address 127.0.0.1:10256 --metrics-bind-address 127.0.0.1:10249 >"$1" 2>&1 &
    DAEMON=$!
}

snapshot() {  # snapshot FILE: the node state kube-ipvs owns, without counters
    { ipvsadm -Sn; ipset save | sort; iptables-save | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'; \
      ip -o addr show dev kube-ipvs0 | awk '{ print $4 }' | sort; } >"$1" 2>&1
}

rr_check() {  # rr_check N: N requests alternate between the two seed pods
    : >rr.txt
    i=0; while [ $i -lt "$1" ]; do fetch "http://$VIP/name" >>rr.txt; echo >>rr.txt; i=$((i + 1)); done
    a=$(grep -c '^pod-a$' rr.txt); b=$(grep -c '^pod-b$' rr.txt)
    repeats=$(grep -v '^$' rr.txt | uniq -d | wc -l)
    answered=$(grep -c . rr.txt)
    echo "  $1 requests: pod-a $a, pod-b $b, answered $answered, consecutive repeats $repeats"
    [ "$answered" = "$1" ] && [ "$a" -ge $(( $1 / 2 - 1 )) ] && [ "$b" -ge $(( $1 / 2 - 1 )) ] && [ "$repeats" -le 1 ]
}

pods_up pod-a=10.244.1.2 pod-b=10.244.1.3 pod-c=10.244.1.4 || die "pods_up failed"

# --- 1. the seed -------------------------------------------------------------------------------
ctl seed || die "could not create the seed's objects"
t0=$(uptime_)
start_daemon daemon-1.log
took=$(wait_for "seed programmed" 180 '[ "$(active)" = "10.244.1.2:8080 10.244.1.3:8080 " ]')
show "daemon log (start)" daemon-1.log
[ "$took" = TIMEOUT ] && die "the seed was not programmed within 180 s of start (active: $(active))"
echo "  ok: seed programmed $(since "$t0") s after start"
grep -q "first sync: applied" daemon-1.log || note_fail "no 'first sync: applied' line in the daemon log"
ip -o addr show dev kube-ipvs0 | grep -q "$VIP/32" || note_fail "kube-ipvs0 has no $VIP/32"
ipset list KUBE-CLUSTER-IP | grep -q "^$VIP,tcp:80" || note_fail "KUBE-CLUSTER-IP has no $VIP,tcp:80"
if rr_check 20; then echo "  ok: round-robin over pod-a and pod-b"; else note_fail "the seed does not answer round-robin: $(tr '\n' ' ' <rr.txt)"; fi

# --- 2. scaling and deletion -------------------------------------------------------------------
change "endpoints 2 -> 3" '[ "$(active)" = "10.244.1.2:8080 10.244.1.3:8080 10.244.1.4:8080 " ]' endpoints 10.244.1.2 10.244.1.3 10.244.1.4
# 3 -> 1 keeps pod-a. pod-b still has connections from the round-robin check (TIME_WAIT, about
# 2 minutes in IPVS); pod-c has none. Both get weight 0 at once; pod-c is deleted at the next
# check for idle real servers, pod-b stays at weight 0 while it has connections.
change "endpoints 3 -> 1" '[ "$(active)" = "10.244.1.2:8080 " ]' endpoints 10.244.1.2
took=$(wait_for "idle drained real server deleted" 10 '[ "$(present)" = "10.244.1.2:8080 10.244.1.3:8080 " ]')
ipvsadm -Ln -t $VIP:80 >drain.txt; show "ipvsadm -Ln -t $VIP:80 while draining" drain.txt
if [ "$took" = TIMEOUT ]; then note_fail "after 3 -> 1, real servers present are '$(present)', expected pod-a and the draining pod-b only"
else echo "  ok: the idle drained real server (pod-c) was deleted ${took} s after the weight-0 step"; fi
b_conns=$(awk '$2 == "10.244.1.3:8080" { print $5 + $6 }' drain.txt)
b_weight=$(awk '$2 == "10.244.1.3:8080" { print $4 }' drain.txt)
if [ "$b_weight" = 0 ] && [ "${b_conns:-0}" -gt 0 ]; then echo "  ok: pod-b drains at weight 0 with $b_conns connection(s) left"
else note_fail "pod-b should drain at weight 0 while it has connections; weight '$b_weight', connections '$b_conns'"; fi
ans=$(fetch "http://$VIP/name"; fetch "http://$VIP/name")
[ "$(echo $ans)" = "pod-a pod-a" ] || note_fail "after scaling to 1, answers are '$ans', expected pod-a twice"
change "draining pod-b returns" '[ "$(active)" = "10.244.1.2:8080 10.244.1.3:8080 " ]' endpoints 10.244.1.2 10.244.1.3
# Timed on the virtual server (one ipvsadm per poll; the guest's tools are slow under emulation);
# the address and set entries go in the same apply, so they must be gone by then too.
change "Service deleted" '! has_vs' delete-service
ip -o addr show dev kube-ipvs0 | grep -q "$VIP/" && note_fail "after the Service's deletion kube-ipvs0 still has $VIP"
ipset list KUBE-CLUSTER-IP | grep -q "^$VIP," && note_fail "after the Service's deletion KUBE-CLUSTER-IP still has $VIP"
ipset list KUBE-IPVS-IPS | grep -q "^$VIP\$" && note_fail "after the Service's deletion KUBE-IPVS-IPS still has $VIP"

# --- 3. the API server away for 30 s -----------------------------------------------------------
ctl seed
took=$(wait_for "seed again" 10 '[ "$(active)" = "10.244.1.2:8080 10.244.1.3:8080 " ]')
[ "$took" = TIMEOUT ] && note_fail "the seed was not programmed again within 10 s (active: $(active))"
ctl apiserver-stop
ctl via-second endpoints 10.244.1.2 10.244.1.3 10.244.1.4
t0=$(uptime_); n=0; ok=0
while le "$(since "$t0")" 30; do
    n=$((n + 1))
    [ -n "$(fetch "http://$VIP/name" 3)" ] && ok=$((ok + 1))
    sleep 0.5
done
echo "  API server stopped: $ok of $n requests answered in 30 s"
[ "$ok" = "$n" ] || note_fail "with the API server stopped, $((n - ok)) of $n requests failed"
kill -0 "$DAEMON" 2>/dev/null || note_fail "the daemon exited while the API server was stopped"
[ "$(active)" = "10.244.1.2:8080 10.244.1.3:8080 " ] || note_fail "the node changed while the API server was stopped: $(active)"
ctl apiserver-start
took=$(wait_for "change made meanwhile" 120 '[ "$(active)" = "10.244.1.2:8080 10.244.1.3:8080 10.244.1.4:8080 " ]')
if [ "$took" = TIMEOUT ]; then note_fail "the change made while the API server was stopped was not applied within 120 s of its return (active: $(active))"
else echo "  ok: the change made meanwhile was applied ${took} s after the API server returned"; fi

# --- 4. SIGTERM, restart, health and metrics ---------------------------------------------------
code=$(timeout 10 wget -q -S -O healthz.json http://127.0.0.1:10256/healthz 2>&1 | awk '/HTTP\// { print $2 }' | tail -n 1)
show "/healthz" healthz.json; echo
[ "$code" = 200 ] || note_fail "/healthz answered '$code', expected 200"
grep -q '"lastUpdated"' healthz.json || note_fail "/healthz body has no lastUpdated"
timeout 10 wget -q -O livez.json http://127.0.0.1:10256/livez || note_fail "/livez did not answer 200"
timeout 10 wget -q -O metrics.txt http://127.0.0.1:10249/metrics || note_fail "/metrics did not answer"
for m in kubeproxy_sync_proxy_rules_duration_seconds_bucket kubeproxy_sync_proxy_rules_last_timestamp_seconds \
         kubeproxy_network_programming_duration_seconds_bucket kubeproxy_sync_proxy_rules_endpoint_changes_total \
         kubeproxy_sync_proxy_rules_service_changes_total kubeproxy_sync_proxy_rules_endpoint_changes_pending; do
    grep -q "^$m" metrics.txt || note_fail "/metrics has no $m"
done
grep -E '^kubeproxy_sync_proxy_rules_(endpoint|service)_changes_total' metrics.txt

snapshot before.txt
kill -TERM "$DAEMON"
i=0; while kill -0 "$DAEMON" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
kill -0 "$DAEMON" 2>/dev/null && note_fail "the daemon did not exit within 30 s of SIGTERM"
wait "$DAEMON"; rc=$?
[ "$rc" = 0 ] || note_fail "the daemon exited with status $rc after SIGTERM"
show "daemon log (until SIGTERM)" daemon-1.log
snapshot after-term.txt
if cmp -s before.txt after-term.txt; then echo "  ok: SIGTERM left the state identical ($(wc -l <before.txt) lines)"
else note_fail "SIGTERM changed the node state: $(diff before.txt after-term.txt | head -n 10 | tr '\n' ' ')"; fi
[ -n "$(fetch "http://$VIP/name")" ] || note_fail "no answer from the VIP after the daemon stopped"

start_daemon daemon-2.log
took=$(wait_for "restart's first sync" 180 'grep -q "first sync: applied" daemon-2.log')
show "daemon log (restart)" daemon-2.log
if [ "$took" = TIMEOUT ]; then
    note_fail "no first sync within 180 s of the restart"
elif grep -q "first sync: applied 0 operations" daemon-2.log; then
    echo "  ok: the restart's first sync applied 0 operations (${took} s after start)"
else
    note_fail "the restart's first sync was not empty: $(grep 'first sync' daemon-2.log)"
fi
snapshot after-restart.txt
cmp -s before.txt after-restart.txt || note_fail "the restart changed the node state: $(diff before.txt after-restart.txt | head -n 10 | tr '\n' ' ')"
kill -TERM "$DAEMON"; wait "$DAEMON"
finish
