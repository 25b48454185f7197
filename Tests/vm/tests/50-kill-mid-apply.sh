#!/bin/sh
# Traffic through restarts: the seed's web-service is programmed and client1 sends requests to its
# VIP without pause while `kube-ipvs sync` of 1,000 more Services is SIGKILLed again and again in
# the middle of its first apply (each restart resumes from what the kernel holds), until one run
# finishes. Promises: no request fails, the node converges to every Service, and the next sync
# applies 0 operations. The daemon's first sync is the same observe-plan-apply as `sync`.
# vm: needs-binary fresh-boot timeout=900
. /vm/lib/traffic.sh

VIP=10.254.10.128
N=${KILL_TEST_SERVICES:-1000}
traffic_setup

# The seed's Service and N more with eight endpoints each (the two pods and six addresses nobody
# answers on: only the seed's VIP carries traffic), so the IPVS part of the apply takes a while.
big=big.yaml
{
    sed -n '1,/^---/p' /vm/examples/web-service.yaml | sed '$d'
    slice web-service TCP 8080 10.244.1.2 10.244.1.3
    i=0
    while [ $i -lt "$N" ]; do
        printf -- '---\napiVersion: v1\nkind: Service\nmetadata: {name: s%d, namespace: load}\n' $i
        printf 'spec: {clusterIP: 10.255.%d.%d, ports: [{port: 80, protocol: TCP, targetPort: 8080}]}\n' $((i / 250)) $((i % 250 + 1))
        slice "s$i" TCP 8080 10.244.1.2 10.244.1.3 10.244.2.1 10.244.2.2 10.244.2.3 10.244.2.4 10.244.2.5 10.244.2.6 |
            sed "s/namespace: default/namespace: load/"
        i=$((i + 1))
    done
} >"$big"
want=$((N + 1))

sync_or_fail /vm/examples/web-service.yaml
expect_vs "TCP  $VIP:80" 10.244.1.2:8080 10.244.1.3:8080

steady_traffic_start "http://$VIP/name" 3000 600

# Each run is killed a little later into its own apply (0, 0.2, 0.4 or 0.6 s after the kernel
# first shows it progressing), so the kills fall at different points, until a run ends by itself.
kills=0 partial=0 run=0 done_=0
while [ $run -lt 30 ]; do
    run=$((run + 1))
    before=$(apply_progress)
    kube-ipvs sync -f "$big" --config "$KUBE_IPVS_CONFIG" --hostname-override node1 --iptables-backend legacy \
        >"run-$run.txt" 2>&1 &
    pid=$!
    while kill -0 $pid 2>/dev/null && [ "$(apply_progress)" = "$before" ]; do sleep 0.1; done
    extra=$(( (run - 1) % 4 * 200 ))
    sleep "$((extra / 1000)).$(printf %03d $((extra % 1000)))"
    if kill -0 $pid 2>/dev/null; then
        kill -9 $pid
        wait $pid 2>/dev/null
        kills=$((kills + 1))
        n=$(vs_count)
        [ "$n" -lt "$want" ] && partial=$((partial + 1))
        echo "  run $run: SIGKILL ${extra} ms into the apply, $n of $want virtual servers programmed"
    else
        wait $pid; rc=$?
        show "run $run finished (exit $rc)" "run-$run.txt"
        [ $rc = 0 ] || note_fail "run $run exited $rc: $(tail -n 1 "run-$run.txt")"
        done_=1
        break
    fi
done
[ $done_ = 1 ] || note_fail "no sync finished within $run runs"
[ $partial -ge 1 ] || note_fail "no SIGKILL fell inside the apply ($kills kills; the test proves nothing)"

n=$(vs_count)
[ "$n" = "$want" ] && echo "  ok: $n virtual servers after the restarts" || note_fail "expected $want virtual servers, found $n"
kube_sync "$big" final.txt
expect_match final.txt "^applied 0 operations" "the sync after convergence applies 0 operations"

steady_traffic_stop
echo "  traffic: $traffic_sent requests to $VIP:80 through $kills SIGKILLs ($partial mid-apply): $(tally traffic.txt)"
echo "FIGURES kill-mid-apply services=$N kills=$kills mid_apply=$partial requests=$traffic_sent failed=$traffic_failed"
finish
