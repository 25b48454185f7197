#!/bin/sh
# Node tuning in the guest's initial network namespace (kernel 6.1), as the DaemonSet's init
# container does it: `kube-ipvs run --init-only` raises nf_conntrack_max to max(32768 x CPUs, 131072)
# and the hashsize to a quarter of it, sets the conntrack TCP timeouts, loads the modules and sets
# the daemon's sysctls, and leaves conn_reuse_mode alone (6.1 is not in 4.1-5.8); a second run
# writes nothing; a larger nf_conntrack_max is kept; `sync --dry-run` shows the lines and
# `sync --dry-run --against-node` no longer does; a running daemon's oom_score_adj is -999.
# vm: needs-binary fresh-boot timeout=600
. /vm/lib/testlib.sh

CONFIG=/vm/examples/kube-proxy-config.yaml
P=/proc/sys/net/netfilter
H=/sys/module/nf_conntrack/parameters/hashsize
# expect_value WHAT FILE VALUE
expect_value() {
    got=$(cat "$2" 2>/dev/null)
    if [ "$got" = "$3" ]; then echo "  ok: $1 = $3"; else note_fail "$1: expected $3, found '$got'"; fi
}

modprobe nf_conntrack && modprobe ip_vs || die "modprobe nf_conntrack ip_vs"
cpus=$(grep -c '^processor' /proc/cpuinfo)
want=$((32768 * cpus)); [ $want -lt 131072 ] && want=131072
echo "  $cpus CPU(s): nf_conntrack_max wanted $want, hashsize $((want / 4))"

# Start below what kube-proxy's defaults ask for, so that every value has to be written.
echo 16384 >$P/nf_conntrack_max
echo 4096 >$H
echo 432000 >$P/nf_conntrack_tcp_timeout_established
echo 60 >$P/nf_conntrack_tcp_timeout_close_wait
reuse_before=$(cat /proc/sys/net/ipv4/vs/conn_reuse_mode 2>/dev/null || echo none)

kube-ipvs run --init-only --config "$CONFIG" --hostname-override node1 >init1.log 2>&1
rc=$?
show "run --init-only (exit $rc)" init1.log
[ $rc = 0 ] || note_fail "run --init-only exited $rc"
expect_value nf_conntrack_max $P/nf_conntrack_max $want
expect_value hashsize $H $((want / 4))
expect_value tcp_timeout_established $P/nf_conntrack_tcp_timeout_established 86400
expect_value tcp_timeout_close_wait $P/nf_conntrack_tcp_timeout_close_wait 3600
expect_value net.ipv4.vs.conntrack /proc/sys/net/ipv4/vs/conntrack 1
expect_value net.ipv4.ip_forward /proc/sys/net/ipv4/ip_forward 1
expect_value "conn_reuse_mode (left alone on 6.1)" /proc/sys/net/ipv4/vs/conn_reuse_mode "$reuse_before"
n=$(grep -c "node tuning: set" init1.log)
[ "$n" = 4 ] && echo "  ok: 4 tuning writes logged" || note_fail "expected 4 'node tuning: set' lines, found $n"
grep -q "node tuning: set net.netfilter.nf_conntrack_max=$want (was 16384)" init1.log ||
    note_fail "the nf_conntrack_max write is not logged with its old value"

# Second run: everything reads back as wanted.
kube-ipvs run --init-only --config "$CONFIG" --hostname-override node1 >init2.log 2>&1
rc=$?
show "second run --init-only (exit $rc)" init2.log
[ $rc = 0 ] || note_fail "second run --init-only exited $rc"
if grep -q "node tuning: set\|init-only: modprobe\|init-only: sysctl" init2.log; then note_fail "the second run wrote something"
else echo "  ok: the second run writes nothing"; fi

# A larger table set by the administrator is kept (upstream only raises it).
big=$((want * 2))
echo $big >$P/nf_conntrack_max
kube-ipvs run --init-only --config "$CONFIG" --hostname-override node1 >init3.log 2>&1 || note_fail "third run --init-only failed"
expect_value "nf_conntrack_max set larger by hand" $P/nf_conntrack_max $big

# The dry-runs: for an empty node every tuning line; against this node, none left.
kube-ipvs sync --dry-run -f /vm/examples/web-service.yaml --config "$CONFIG" --hostname-override node1 >dry.sh 2>dry.err
for line in "sysctl -w net.netfilter.nf_conntrack_max=$want" "echo $((want / 4)) > /sys/module/nf_conntrack/parameters/hashsize" \
            "sysctl -w net.netfilter.nf_conntrack_tcp_timeout_established=86400"; do
    grep -qxF "$line" dry.sh && echo "  ok: sync --dry-run shows: $line" || note_fail "sync --dry-run lacks: $line"
done
kube-ipvs sync --dry-run --against-node -f /vm/examples/web-service.yaml --config "$CONFIG" --hostname-override node1 \
    --iptables-backend legacy >dry-node.sh 2>dry-node.err || note_fail "sync --dry-run --against-node failed: $(tail -n 1 dry-node.err)"
if grep -q "nf_conntrack\|conn_reuse_mode" dry-node.sh; then note_fail "against the prepared node the dry-run still has tuning lines"; show dry-node dry-node.sh
else echo "  ok: against the prepared node no tuning line is left"; fi

# A running daemon lowers its own oom_score_adj to -999 (it has CAP_SYS_RESOURCE here, as root).
cat >kubeconfig <<K
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "http://127.0.0.1:9"}}]
users: [{name: none, user: {}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
K
kube-ipvs run --kubeconfig kubeconfig --config "$CONFIG" --hostname-override node1 --iptables-backend legacy >daemon.log 2>&1 &
pid=$!
t=0
while [ $t -lt 300 ] && ! grep -q "oom_score_adj" daemon.log; do sleep 0.2; t=$((t + 1)); done
adj=$(cat /proc/$pid/oom_score_adj 2>/dev/null)
kill $pid 2>/dev/null; wait $pid 2>/dev/null
show "daemon" daemon.log
[ "$adj" = -999 ] && echo "  ok: the daemon's oom_score_adj is -999" || note_fail "daemon oom_score_adj: expected -999, found '$adj'"
grep -q "oom_score_adj of this process set to -999" daemon.log || note_fail "the oom_score_adj change is not logged"

finish
