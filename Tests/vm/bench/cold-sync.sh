#!/bin/sh
# Benchmark (b) of issue 7 (docs/benchmarks.md), not a test: `kube-ipvs sync` of N Services x 10
# endpoints on an empty node, then, in the same boot, the kernel tools' floor: `ip -batch` (the
# kube-ipvs0 link and its addresses) + `ipset restore` + `iptables-restore` + `ipvsadm --restore`
# of exactly the state the sync made. Each run gets a fresh network namespace: IPVS, ipsets,
# iptables and links are per namespace, so neither run sees the other's state (nor the other's
# deleted IPVS destinations, which would slow every later add: ip_vs_trash_get_dest). A small sync
# in a throwaway namespace first loads every kernel module both sides need.
# Prints `BENCH key=value ...` lines that scripts/bench.sh tabulates.
# vm: needs-binary timeout=3000
. /vm/lib/testlib.sh
now() { cut -d' ' -f1 /proc/uptime; }
ms() { awk "BEGIN { printf \"%.0f\", ($2 - $1) * 1000 }"; }
# Conntrack's limit and timeouts left as they are: nf_conntrack_max is global and not writable from
# a namespace (the sync would stop there), and the tools' side does not set them either.
printf 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nconntrack:\n  maxPerCore: 0\n  tcpEstablishedTimeout: 0s\n  tcpCloseWaitTimeout: 0s\n' >ct.yaml
SYNC="kube-ipvs sync --hostname-override node1 --cluster-cidr 10.244.0.0/16 --iptables-backend legacy --config $PWD/ct.yaml --timings"

dump() {  # dump NETNS DIR: the state, normalised (sorted; no counters)
    mkdir -p "$2"
    ip netns exec "$1" ipvsadm -Sn | sort >"$2/ipvs.txt"
    ip netns exec "$1" ipset save | sort >"$2/sets.txt"
    # Table by table: iptables-save lists a namespace's tables in the order they were first used.
    for t in nat filter mangle raw; do ip netns exec "$1" iptables-save -t $t; done | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//' >"$2/rules.txt"
    ip netns exec "$1" ip -o addr show dev kube-ipvs0 | awk '{ print $4 }' | sort >"$2/addresses.txt"
}

# Warm-up: the modules (IPVS, schedulers, ipset types, xtables matches) and the binary's pages.
ip netns add warm
ip netns exec warm $SYNC -f warm.json >warm.txt 2>&1 || { show warm-up warm.txt; die "warm-up sync failed"; }
ip netns exec warm ipvsadm -Sn >/dev/null; ip netns exec warm ipset save >/dev/null
ip netns del warm

for n in $(cat sizes); do
    ip netns add "sync$n"; ip netns add "tools$n"
    ip netns exec "sync$n" ip link set lo up; ip netns exec "tools$n" ip link set lo up

    # kube-ipvs sync, cold.
    t0=$(now)
    ip netns exec "sync$n" $SYNC -f "services-$n.json" >"sync-$n.txt" 2>&1
    rc=$?; t1=$(now)
    show "kube-ipvs sync of $n Services (exit $rc)" "sync-$n.txt"
    [ $rc = 0 ] || note_fail "sync of $n Services exited $rc"
    sync_ms=$(ms "$t0" "$t1")
    dump "sync$n" "state-sync-$n"

    # The tools, from the sync's own final state.
    d=state-sync-$n
    { echo "link add kube-ipvs0 type dummy"; sed 's|^|address add |; s|$| dev kube-ipvs0|' "$d/addresses.txt"; } >ip-batch.txt
    ip netns exec "sync$n" ipset save >sets.restore
    ip netns exec "sync$n" iptables-save >rules.restore
    ip netns exec "sync$n" ipvsadm -Sn >ipvs.restore
    # The sync's sysctls and timeouts are per namespace too, but a handful of writes: left out of both.
    t0=$(now); ip netns exec "tools$n" ip -batch ip-batch.txt || note_fail "ip -batch"
    t1=$(now); ip netns exec "tools$n" ipset restore <sets.restore || note_fail "ipset restore"
    t2=$(now); ip netns exec "tools$n" iptables-restore <rules.restore || note_fail "iptables-restore"
    t3=$(now); ip netns exec "tools$n" ipvsadm -R <ipvs.restore || note_fail "ipvsadm -R"
    t4=$(now)
    ip_ms=$(ms "$t0" "$t1"); ipset_ms=$(ms "$t1" "$t2"); ipt_ms=$(ms "$t2" "$t3"); ipvs_ms=$(ms "$t3" "$t4")
    tools_ms=$(ms "$t0" "$t4")
    dump "tools$n" "state-tools-$n"
    same=yes
    for f in ipvs.txt sets.txt rules.txt addresses.txt; do
        cmp -s "state-sync-$n/$f" "state-tools-$n/$f" || { same=no; note_fail "$n: the tools' $f differs from the sync's"; diff "state-sync-$n/$f" "state-tools-$n/$f" | head -n 5; }
    done
    vs=$(grep -c '^-A' "state-sync-$n/ipvs.txt"); rs=$(grep -c '^-a' "state-sync-$n/ipvs.txt")
    members=$(grep -c '^add ' "state-sync-$n/sets.txt"); addrs=$(wc -l <"state-sync-$n/addresses.txt")
    timings=$(sed -n 's/^timings: //p' "sync-$n.txt" | tr -d ',' | sed 's/ ms//g; s/\([a-z]*\) \([0-9][0-9.]*\)/t_\1=\2/g')
    applied=$(sed -n 's/^applied .* with \([0-9]*\) kernel request.* in \([0-9.]*\) ms$/requests=\1 apply_ms_reported=\2/p' "sync-$n.txt")
    echo "BENCH cold-sync services=$n vs=$vs rs=$rs set_members=$members addresses=$addrs sync_ms=$sync_ms tools_ms=$tools_ms ip_ms=$ip_ms ipset_ms=$ipset_ms iptables_ms=$ipt_ms ipvsadm_ms=$ipvs_ms same_state=$same $applied $timings"
    # The namespaces stay: deleting one frees its IPVS state in a kernel worker, which would run
    # during the next measurement (the guest has one CPU).
done
finish
