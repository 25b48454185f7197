#!/bin/sh
# Benchmarks (c) and (d) of issue 7 (docs/benchmarks.md), not a test: `kube-ipvs run` in the guest
# against the real kube-apiserver on the host (guestfwd 10.0.2.100:6443), which holds N Services x
# 10 endpoints (daemon-scale.sh made them). Measures the daemon's cold start (until its first sync
# is applied), then K one-endpoint changes (through the control channel, 10.0.2.100:7000): the
# operations each sync applied and the daemon's own time from receiving the change to having
# applied it (since-change-ms in its log), and finally its peak RSS (VmHWM).
# Template: daemon-scale.sh writes a copy with the real ports and the size.
# vm: needs-binary timeout=3000 qemu=-netdev 'user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:6443-cmd:socat - TCP:127.0.0.1:@PORT@,guestfwd=tcp:10.0.2.100:7000-cmd:bash @CONTROL@' -device virtio-net-pci,netdev=n0
. /vm/lib/testlib.sh
N=@SIZE@
K=5
user_net_up
uptime_() { cut -d' ' -f1 /proc/uptime; }
since_ms() { awk -v a="$1" -v b="$(uptime_)" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }
ctl() { r=$(echo "$*" | timeout 300 nc 10.0.2.100 7000 2>&1); case $r in ok*) return 0 ;; *) note_fail "host step '$*' answered '$r'"; return 1 ;; esac; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }  # field KEY: a key=value of a log line

t0=$(uptime_)
# syncPeriod 10m: a periodic full resync re-reads the whole kernel, which at 10k Services takes
# longer than the default 30 s under emulation (1-2 s on hardware), so a change would mostly wait
# for one; the changes measured here are the daemon's incremental path.
kube-ipvs run --kubeconfig kubeconfig --cluster-cidr 10.244.0.0/16 --hostname-override node1 \
    --ipvs-sync-period 10m --iptables-backend legacy --healthz-bind-address 127.0.0.1:10256 --metrics-bind-address 127.0.0.1:10249 >daemon.log 2>&1 &
DAEMON=$!
i=0
until grep -q "first sync: applied" daemon.log; do
    kill -0 $DAEMON 2>/dev/null || { show daemon daemon.log; die "the daemon exited"; }
    i=$((i + 1)); [ $i -gt 12000 ] && { show daemon daemon.log; die "no first sync within 20 minutes"; }
    sleep 0.1
done
start_ms=$(since_ms "$t0")
first=$(grep "first sync: applied" daemon.log | head -n 1)
show "first sync" daemon.log
# /proc/net/ip_vs, not ipvsadm: at 10k the kernel writes it in a moment, ipvsadm takes minutes here.
vs=$(grep -c '^TCP' /proc/net/ip_vs); rs=$(grep -c -- '->.*Masq' /proc/net/ip_vs)
echo "BENCH daemon-start services=$N vs=$vs rs=$rs start_to_first_sync_ms=$start_ms first_sync_ops=$(echo "$first" | field operations) first_sync_elapsed_ms=$(echo "$first" | field elapsed-ms) rss_after_start_kib=$(awk '/^VmRSS/ { print $2 }' /proc/$DAEMON/status)"
# N Services plus the API server's own `kubernetes` Service.
[ "$vs" = "$((N + 1))" ] || note_fail "$vs virtual servers, expected $((N + 1)) ($N Services and kubernetes)"

# Quiet: the next change should not share a sync with leftovers of the start.
sleep 3
j=1
while [ $j -le $K ]; do
    svc=$(( (j * 7919) % N ))
    before=$(grep -c "sync applied" daemon.log)
    ctl change "$svc" "10.99.$j.$((svc % 250 + 1))" || break
    i=0
    until [ "$(grep -c "sync applied" daemon.log)" -gt "$before" ]; do
        i=$((i + 1)); [ $i -gt 600 ] && { note_fail "change $j not applied within 60 s"; break; }
        sleep 0.1
    done
    line=$(grep "sync applied" daemon.log | tail -n 1)
    echo "BENCH daemon-change services=$N change=$j service=svc-$svc ops=$(echo "$line" | field operations) ops_ipvs=$(echo "$line" | field ops-ipvs) since_change_ms=$(echo "$line" | field since-change-ms) elapsed_ms=$(echo "$line" | field elapsed-ms) recomputed=$(echo "$line" | field services-recomputed)"
    sleep 2
    j=$((j + 1))
done
grep "sync applied" daemon.log | tail -n $K | sed 's/^/  /'
echo "BENCH daemon-memory services=$N peak_rss_kib=$(awk '/^VmHWM/ { print $2 }' /proc/$DAEMON/status) rss_kib=$(awk '/^VmRSS/ { print $2 }' /proc/$DAEMON/status) binary_bytes=$(wc -c </usr/local/bin/kube-ipvs)"
kill -TERM $DAEMON; wait $DAEMON
finish
