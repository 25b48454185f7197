#!/bin/sh
# Live migration kube-proxy -> kube-ipvs -> kube-proxy on one node, in the guest, against the real
# kube-apiserver on the host (through QEMU's guestfwd at 10.0.2.100:6443, as user system:kube-proxy):
#   1. kube-proxy 1.20 (built from the same Debian source as the API server) runs in IPVS mode from
#      a kubeadm-style config file and programs the Service `migrate-web` (ClusterIP
#      10.254.20.20:80 and NodePort 30080, endpoints pod-a and pod-b);
#   2. a client (namespace client1) sends GETs without pause, alternately to the ClusterIP and to
#      the NodePort on 192.168.50.1; kube-proxy gets SIGTERM (as from the DaemonSet) and kube-ipvs
#      starts with kube-proxy's command line, only the binary swapped. Measured: requests sent and
#      failed, the longest gap between answers, the time from kube-ipvs's start to its first sync,
#      and the operations that sync applied (log and kubeipvs_operations_applied_total). A dry run
#      against the node (before the swap) lists those operations as commands;
#   3. the reverse: kube-ipvs gets SIGTERM, kube-proxy starts again with the same command line;
#      requests failed, kube-proxy's time to its first sync;
#   4. the node state (ipvsadm -Sn, ipset save, iptables-save, kube-ipvs0's addresses) under
#      kube-proxy, under kube-ipvs and under kube-proxy again, compared;
#   5. under kube-ipvs after the adoption, a second Service (migrate-extra) is deleted through the
#      API (control channel 10.0.2.100:7000, vm/migration-control.sh): its virtual servers go,
#      and the figures say which of kube-proxy's, if any, stay.
# Results as "  figure: ..." lines (Tests/apiserver/tests/07-migration.sh prints them).
# Template: 07-migration.sh writes a copy with the real port.
# vm: needs-binary timeout=1200 qemu=-netdev 'user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:6443-cmd:socat - TCP:127.0.0.1:@PORT@,guestfwd=tcp:10.0.2.100:7000-cmd:bash @CONTROL@' -device virtio-net-pci,netdev=n0
. /vm/lib/traffic.sh

VIP=10.254.20.20
NODE_IP=192.168.50.1
NODEPORT=30080
TRAFFIC_MAX=4000      # requests per swap, at most
TRAFFIC_SECS=400      # seconds per swap, at most
AFTER_SECS=8          # traffic kept running after the new proxy's first sync
# A request fails when it has no answer within REQUEST_SECS. A node without the rules answers at
# once with a reset or never; under emulation on a loaded host a starting proxy can starve the
# client of the guest's one vCPU for several seconds, which is not a failure of the rules.
REQUEST_SECS=10

uptime_() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(uptime_)" 'BEGIN { printf "%.2f", b - a }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
figure() { echo "  figure: $*"; }

# wait_until SECONDS CONDITION: polls CONDITION every 0.1 s; prints the seconds it took, or TIMEOUT.
wait_until() {
    _lim=$1; shift
    _w0=$(uptime_)
    while ! eval "$*"; do
        le "$(since "$_w0")" "$_lim" || { echo TIMEOUT; return 1; }
        sleep 0.1
    done
    since "$_w0"
}

# The real servers with weight > 0 of a virtual server, as a sorted list.
active() { ipvsadm -Sn 2>/dev/null | awk -v vs="$1" '$1 == "-a" && $3 == vs && $NF != "0" { print $5 }' | sort | tr '\n' ' '; }
programmed() {
    [ "$(active $VIP:80)" = "10.244.1.2:8080 10.244.1.3:8080 " ] &&
        [ "$(active $NODE_IP:$NODEPORT)" = "10.244.1.2:8080 10.244.1.3:8080 " ]
}

snapshot() {  # snapshot FILE: what both proxies own, without counters (IPVS and sets sorted: order is not state)
    { ipvsadm -Sn | sort; ipset save | sort; iptables-save | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'; \
      ip -o addr show dev kube-ipvs0 | awk '{ print "kube-ipvs0", $4 }' | sort; } >"$1" 2>&1
}
compare() {  # compare A B TITLE: prints the number of lines only in A or only in B; shows the diff
    # (busybox diff writes the unified format only: skip its two header lines, count -/+ lines)
    diff -U0 "$1" "$2" | tail -n +3 | grep -v '^@@' >"diff-$3.txt"
    _n=$(grep -c '^[-+]' "diff-$3.txt")
    [ "$_n" = 0 ] || show "state diff $3 (- $1, + $2)" "diff-$3.txt" >&2
    echo "$_n"
}

# Traffic: one GET after another from client1, alternately to the ClusterIP and the NodePort; one
# line per request "UPTIME c|n ANSWER" (ANSWER: the pod's name, or FAILED).
traffic_start() {  # traffic_start FILE
    : >"$1"; rm -f stop-traffic
    (
        n=0; end=$(( $(date +%s) + TRAFFIC_SECS ))
        while [ ! -e stop-traffic ] && [ $n -lt $TRAFFIC_MAX ] && [ "$(date +%s)" -lt "$end" ]; do
            if [ $((n % 2)) = 0 ]; then k=c; url=http://$VIP/name; else k=n; url=http://$NODE_IP:$NODEPORT/name; fi
            r=$(http_get client1 "$url" $REQUEST_SECS | head -n 1)
            echo "$(uptime_) $k ${r:-FAILED}" >>"$1"
            n=$((n + 1))
        done
    ) &
    TRAFFIC=$!
}
traffic_stop() {  # traffic_stop FILE NAME: figures of one swap's traffic
    touch stop-traffic; wait "$TRAFFIC"
    _sent=$(wc -l <"$1"); _failed=$(grep -c ' FAILED$' "$1")
    # Gaps between consecutive answered requests: the longest, against the median (one request's
    # round trip under emulation).
    # Each gap with the time its answer came, relative to the old proxy's SIGTERM ($SWAP_T).
    awk -v t="$SWAP_T" '$3 != "FAILED" { if (p != "") printf "%.2f %+.1f\n", $1 - p, $1 - t; p = $1 }' "$1" | sort -n >gaps.txt
    _gap=$(tail -n 1 gaps.txt | cut -d' ' -f1); _at=$(tail -n 1 gaps.txt | cut -d' ' -f2)
    _med=$(awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : "-") }' gaps.txt)
    _secs=$(awk 'NR == 1 { a = $1 } { b = $1 } END { printf "%.0f", b - a }' "$1")
    figure "$2: requests $_sent sent in $_secs s, $_failed failed; gap between answers: longest ${_gap:--} s (ending ${_at:-?} s from the SIGTERM; the new proxy started at +${NEW_AT:-?} s, synced at +${SYNC_AT:-?} s), median $_med s; answers $(awk '{ print $3 }' "$1" | sort | uniq -c | awk '{ printf "%s%s=%s", s, $2, $1; s = " " }')"
    [ "$_sent" -ge 20 ] || note_fail "$2: only $_sent requests were sent"
    [ "$_failed" = 0 ] || { note_fail "$2: $_failed of $_sent requests failed"; grep -n ' FAILED$' "$1" | head -n 5; }
}

proxy_metric_synced() {  # kube-proxy has finished a sync (its last-sync timestamp is set)
    fetch http://127.0.0.1:10249/metrics 2 | grep -q '^kubeproxy_sync_proxy_rules_last_timestamp_seconds [1-9]'
}
start_kube_proxy() {  # start_kube_proxy LOG
    # shellcheck disable=SC2086
    $PROXY_CMD $PROXY_ARGS >"$1" 2>&1 &
    PROXY=$!
}
start_kube_ipvs() {  # start_kube_ipvs LOG: the same arguments, the binary swapped
    # shellcheck disable=SC2086
    $IPVS_CMD $PROXY_ARGS >"$1" 2>&1 &
    DAEMON=$!
}
term() {  # term PID WHAT: SIGTERM, wait up to 30 s; prints the exit status
    kill -TERM "$1"
    _i=0; while kill -0 "$1" 2>/dev/null && [ $_i -lt 300 ]; do sleep 0.1; _i=$((_i + 1)); done
    kill -0 "$1" 2>/dev/null && { note_fail "$2 did not exit within 30 s of SIGTERM"; kill -KILL "$1"; }
    wait "$1"
}

# kube-proxy's command line: the kubeadm DaemonSet's (--config, --hostname-override), plus --v=2.
# The config file is kubeadm's config.conf for 1.20 with mode ipvs; only the kubeconfig path
# and clusterCIDR are this test's.
cat >config.conf <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
bindAddress: 0.0.0.0
bindAddressHardFail: false
clientConnection:
  acceptContentTypes: ""
  burst: 0
  contentType: ""
  kubeconfig: $PWD/kubeconfig
  qps: 0
clusterCIDR: 10.244.0.0/16
configSyncPeriod: 0s
conntrack:
  maxPerCore: null
  min: null
  tcpCloseWaitTimeout: null
  tcpEstablishedTimeout: null
detectLocalMode: ""
enableProfiling: false
healthzBindAddress: ""
hostnameOverride: ""
iptables:
  masqueradeAll: false
  masqueradeBit: null
  minSyncPeriod: 0s
  syncPeriod: 0s
ipvs:
  excludeCIDRs: null
  minSyncPeriod: 0s
  scheduler: ""
  strictARP: false
  syncPeriod: 0s
  tcpFinTimeout: 0s
  tcpTimeout: 0s
  udpTimeout: 0s
kind: KubeProxyConfiguration
metricsBindAddress: ""
mode: ipvs
nodePortAddresses: null
oomScoreAdj: null
portRange: ""
showHiddenMetricsForVersion: ""
udpIdleTimeout: 0s
winkernel:
  enableDSR: false
  networkName: ""
  sourceVip: ""
EOF
PROXY_ARGS="--config=$PWD/config.conf --hostname-override=node1 --v=2"
# Two "images": kube-proxy's binary, and kube-ipvs installed under the name kube-proxy (run that
# way it takes kube-proxy's flags), so the two command lines differ only in the directory.
mkdir -p image-kube-ipvs
ln -sf /usr/local/bin/kube-ipvs image-kube-ipvs/kube-proxy
PROXY_CMD=image-kube-proxy/kube-proxy
IPVS_CMD=image-kube-ipvs/kube-proxy
echo "  kube-proxy: $PROXY_CMD $PROXY_ARGS"
echo "  kube-ipvs:  $IPVS_CMD $PROXY_ARGS"
[ -x "$PROXY_CMD" ] || die "no kube-proxy binary from the host hook"
echo "  $("$PROXY_CMD" --version 2>&1); $(kube-ipvs --version 2>&1)"

user_net_up
traffic_setup

# --- 1. kube-proxy programs the node -------------------------------------------------------------
t0=$(uptime_)
start_kube_proxy kube-proxy-1.log
took=$(wait_until 400 'programmed && proxy_metric_synced')
if [ "$took" = TIMEOUT ]; then
    show "kube-proxy log" kube-proxy-1.log
    die "kube-proxy did not program migrate-web within 400 s of its start (ClusterIP: $(active $VIP:80); NodePort: $(active $NODE_IP:$NODEPORT))"
fi
figure "kube-proxy: first sync done $(since "$t0") s after its start (Service programmed)"
sleep 3   # a second sync (endpoints and the Node arrive in any order) has happened by now
snapshot state-kube-proxy.txt
show "node state under kube-proxy (the snapshot compared below)" state-kube-proxy.txt
ipvsadm -Ln >ipvs-kube-proxy.txt; show "ipvsadm -Ln under kube-proxy" ipvs-kube-proxy.txt
http_times 10 client1 "http://$VIP/name" rr.txt
expect_spread rr.txt "kube-proxy's ClusterIP"

# What kube-ipvs will do to this state: a dry run against the node, on other ports (kube-proxy is
# still running and holds 10256 and 10249; a dry run takes no node lock and writes nothing).
# shellcheck disable=SC2086
timeout 300 $IPVS_CMD $PROXY_ARGS --dry-run --against-node \
    --healthz-bind-address 127.0.0.1:20256 --metrics-bind-address 127.0.0.1:20249 >dry-run.txt 2>dry-run.log &
DRY=$!
took=$(wait_until 240 'grep -q "first sync: applied" dry-run.log')
kill -TERM $DRY 2>/dev/null; wait $DRY
if [ "$took" = TIMEOUT ]; then show "dry-run log" dry-run.log; note_fail "the dry run against the node did not finish its first sync within 240 s"
else
    show "kube-ipvs --dry-run --against-node: the commands its first sync would run on kube-proxy's state" dry-run.txt
    dry_ops=$(sed -n 's/.*first sync: applied \([0-9]*\) operations.*/\1/p' dry-run.log | head -n 1)
    figure "dry run against kube-proxy's state: its first sync would apply ${dry_ops:-?} operations"
fi

# --- 2. kube-proxy -> kube-ipvs -------------------------------------------------------------------
traffic_start traffic-1.txt
sleep 3
SWAP_T=$(uptime_)
term "$PROXY" kube-proxy; rc=$?
echo "  kube-proxy exited with status $rc after SIGTERM"
NEW_AT=$(since "$SWAP_T")
start_kube_ipvs kube-ipvs.log
took=$(wait_until 300 'grep -q "first sync: applied" kube-ipvs.log')
SYNC_AT=$(since "$SWAP_T")
if [ "$took" = TIMEOUT ]; then note_fail "kube-ipvs: no first sync within 300 s of its start"
else
    line=$(grep "first sync: applied" kube-ipvs.log | head -n 1)
    ops=$(echo "$line" | sed -n 's/.*first sync: applied \([0-9]*\) operations.*/\1/p')
    figure "kube-ipvs adopted kube-proxy's state: first sync ${took} s after its start, ${ops:-?} operations ($(echo "$line" | grep -o 'ops-[a-z-]*=[0-9]*' | tr '\n' ' ' | sed 's/ $//'))"
    # The dry run read the same state: it must have planned exactly what the real start applied.
    [ -z "${dry_ops:-}" ] || [ "$dry_ops" = "$ops" ] || note_fail "the dry run against the node planned $dry_ops operations, the real start applied $ops"
fi
sleep $AFTER_SECS
traffic_stop traffic-1.txt "swap kube-proxy -> kube-ipvs"
show "kube-ipvs log" kube-ipvs.log
kill -0 "$DAEMON" 2>/dev/null || note_fail "kube-ipvs exited: $(tail -n 3 kube-ipvs.log | tr '\n' ' ')"
errs=$(grep -E '^[^ ]+ (error|critical) ' kube-ipvs.log | head -n 3 | tr '\n' ' ')
[ -z "$errs" ] || note_fail "kube-ipvs logged errors: $errs"
fetch http://127.0.0.1:10249/metrics >metrics-kube-ipvs.txt
grep -E '^kubeipvs_operations_applied_total.* [1-9]' metrics-kube-ipvs.txt | sed 's/^/  | /'
figure "kube-ipvs metrics after adoption: $(grep -E '^kubeipvs_operations_applied_total.* [1-9]' metrics-kube-ipvs.txt | sed 's/kubeipvs_operations_applied_total{kind="\([^"]*\)"} /\1=/' | tr '\n' ' ' | sed 's/ $//')"
programmed || note_fail "under kube-ipvs migrate-web is not programmed as before (ClusterIP: $(active $VIP:80); NodePort: $(active $NODE_IP:$NODEPORT))"
snapshot state-kube-ipvs.txt
n=$(compare state-kube-proxy.txt state-kube-ipvs.txt kube-proxy-to-kube-ipvs)
figure "state kube-proxy -> kube-ipvs: $n lines differ of $(wc -l <state-kube-proxy.txt)"
# What carries the traffic (virtual and real servers, kube-ipvs0's addresses) is adopted as it is:
# kube-ipvs only adds what newer kube-proxy versions have and 1.20 has not (sets, filter chains).
forwarding() { grep -E '^-[Aa] -[tuf] |^kube-ipvs0 ' "$1"; }
forwarding state-kube-proxy.txt >fwd-kube-proxy.txt
forwarding state-kube-ipvs.txt >fwd-kube-ipvs.txt
cmp -s fwd-kube-proxy.txt fwd-kube-ipvs.txt && echo "  ok: IPVS and kube-ipvs0 unchanged by the adoption ($(wc -l <fwd-kube-proxy.txt) lines)" ||
    note_fail "kube-ipvs changed IPVS or kube-ipvs0 when it adopted kube-proxy's state: $(diff -U0 fwd-kube-proxy.txt fwd-kube-ipvs.txt | tail -n +3 | tr '\n' ' ')"

# A change after the adoption: migrate-extra deleted through the API. kube-ipvs removes what it
# owns; kube-proxy 1.20 also made NodePort virtual servers on 127.0.0.1, which kube-ipvs does not
# program and does not own: the figure says what is left of them.
extra_vs() { ipvsadm -Sn | awk '$1 == "-A" && ($3 == "10.254.20.21:80" || $3 ~ /:30081$/) { print $3 }' | sort | tr '\n' ' '; }
echo "  migrate-extra's virtual servers: $(extra_vs)"
r=$(echo delete-extra | timeout 120 nc 10.0.2.100 7000 2>&1)
if [ "$r" != ok ]; then note_fail "host step delete-extra answered '$r'"
else
    took=$(wait_until 30 '[ -z "$(extra_vs | tr " " "\n" | grep -v "^127\.")" ]')
    if [ "$took" = TIMEOUT ]; then note_fail "kube-ipvs did not remove migrate-extra's virtual servers within 30 s: $(extra_vs)"
    else figure "migrate-extra deleted under kube-ipvs: its virtual servers removed in ${took} s after the API answered; left: $(extra_vs | sed 's/ $//; s/^$/none/')"; fi
fi
snapshot state-kube-ipvs.txt

# --- 3. kube-ipvs -> kube-proxy (rollback) ---------------------------------------------------------
traffic_start traffic-2.txt
sleep 3
SWAP_T=$(uptime_)
term "$DAEMON" kube-ipvs; rc=$?
[ "$rc" = 0 ] || note_fail "kube-ipvs exited with status $rc after SIGTERM"
snapshot state-after-term.txt
n=$(compare state-kube-ipvs.txt state-after-term.txt kube-ipvs-sigterm)
[ "$n" = 0 ] || note_fail "kube-ipvs's SIGTERM changed $n lines of the node state"
t0=$(uptime_)
NEW_AT=$(since "$SWAP_T")
start_kube_proxy kube-proxy-2.log
took=$(wait_until 300 'proxy_metric_synced')
SYNC_AT=$(since "$SWAP_T")
if [ "$took" = TIMEOUT ]; then note_fail "kube-proxy (rollback): no sync within 300 s of its start"
else figure "kube-proxy (rollback): first sync done ${took} s after its start"; fi
sleep $AFTER_SECS
traffic_stop traffic-2.txt "rollback kube-ipvs -> kube-proxy"
kill -0 "$PROXY" 2>/dev/null || { show "kube-proxy log (rollback)" kube-proxy-2.log; note_fail "kube-proxy exited after the rollback"; }
programmed || note_fail "after the rollback migrate-web is not programmed (ClusterIP: $(active $VIP:80); NodePort: $(active $NODE_IP:$NODEPORT))"
snapshot state-rollback.txt
n=$(compare state-kube-ipvs.txt state-rollback.txt kube-ipvs-to-kube-proxy)
figure "state kube-ipvs -> kube-proxy: $n lines differ"
n=$(compare state-kube-proxy.txt state-rollback.txt before-and-after)
figure "state kube-proxy before the migration -> after the rollback: $n lines differ"
forwarding state-rollback.txt >fwd-rollback.txt
grep -v -e '10\.254\.20\.21' -e ':30081 ' fwd-kube-proxy.txt >fwd-expected.txt   # without migrate-extra
cmp -s fwd-expected.txt fwd-rollback.txt && echo "  ok: IPVS and kube-ipvs0 after the rollback as before the migration (less migrate-extra)" ||
    note_fail "IPVS or kube-ipvs0 after the rollback differ from before the migration (less migrate-extra): $(diff -U0 fwd-expected.txt fwd-rollback.txt | tail -n +3 | tr '\n' ' ')"
show "kube-proxy log (first run, head)" kube-proxy-1.log | head -n 40
grep -E '^[EW][0-9]{4}' kube-proxy-2.log | head -n 10 | sed 's/^/  kube-proxy (rollback) warning: /'
term "$PROXY" kube-proxy
finish
