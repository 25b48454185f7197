#!/bin/sh
# Kernel faults stay with what caused them: a KUBE-* ipset made by someone else with another type
# (recreated when free, even once kube-ipvs's own rules match it; reported, and the rest
# programmed, while a foreign rule holds it), the
# nft flavour's iptables-nft-restore failing, the xtables lock held by another process for 10 s,
# a read-only /proc/sys, and a Service whose IPVS scheduler the kernel lacks (twos on 6.1). In each case the seed's VIP is still served by IPVS, the failure is
# named, and once the fault is gone the next sync succeeds and the one after applies nothing.
# Each case ends with `kube-ipvs cleanup`, so the next starts from a bare node.
# vm: needs-binary fresh-boot timeout=900
. /vm/lib/traffic.sh

VIP=10.254.10.128
SEED=/vm/examples/web-service.yaml
traffic_setup

# run_sync OUT [ARGS...]: one sync of the seed; sets $rc.
run_sync() {
    _o=$1; shift
    kube-ipvs sync -f $SEED --config "$KUBE_IPVS_CONFIG" --hostname-override node1 "$@" >"$_o" 2>&1
    rc=$?
    show "kube-ipvs sync $* (exit $rc)" "$_o"
}
# served WHAT: the VIP's virtual server has both pods and 6 requests from client1 reach them.
served() {
    expect_vs "TCP  $VIP:80" 10.244.1.2:8080 10.244.1.3:8080
    http_times 6 client1 "http://$VIP/name" served.txt
    expect_spread served.txt "$1"
}
# converges ARGS...: a sync succeeds, and the next applies 0 operations.
converges() {
    run_sync conv1.txt "$@"
    [ $rc = 0 ] || note_fail "sync after the fault exited $rc"
    run_sync conv2.txt "$@"
    expect_match conv2.txt "^applied 0 operations" "the sync after that applies 0 operations"
}
clean() {
    kube-ipvs cleanup "$@" >cleanup.txt 2>&1 || { show "cleanup failed" cleanup.txt; note_fail "cleanup $* failed"; }
}
expect_failed_naming() {  # FILE REGEX: the sync failed and its error names REGEX
    [ $rc != 0 ] && echo "  ok: sync exited $rc" || note_fail "sync exited 0 despite the fault"
    expect_match "$1" "$2" "the error names $2"
}

modprobe ip_set; modprobe ip_set_hash_ip

case_begin set-of-another-type
ipset create KUBE-CLUSTER-IP hash:ip
run_sync s.txt --iptables-backend legacy
[ $rc = 0 ] && echo "  ok: sync exited 0" || note_fail "sync exited $rc"
ipset list -t KUBE-CLUSTER-IP | grep -q "^Type: hash:ip,port" && echo "  ok: KUBE-CLUSTER-IP recreated as hash:ip,port" \
    || note_fail "KUBE-CLUSTER-IP is $(ipset list -t KUBE-CLUSTER-IP | grep '^Type')"
served "the VIP after recreating the set"
clean --iptables-backend legacy
case_end

case_begin set-of-another-type-in-use
ipset create KUBE-CLUSTER-IP hash:ip
iptables -A INPUT -m set --match-set KUBE-CLUSTER-IP dst -m comment --comment "foreign rule" -j ACCEPT
run_sync s.txt --iptables-backend legacy
expect_failed_naming s.txt "KUBE-CLUSTER-IP"
# Cluster IPs are matched through this set, so their traffic is not promised while it is held;
# the virtual server is still programmed, and the set is repaired once it is free.
expect_vs "TCP  $VIP:80" 10.244.1.2:8080 10.244.1.3:8080
iptables -D INPUT -m set --match-set KUBE-CLUSTER-IP dst -m comment --comment "foreign rule" -j ACCEPT
converges --iptables-backend legacy
served "the VIP once the foreign rule is gone"
clean --iptables-backend legacy
case_end

case_begin iptables-restore-fails
# kube-ipvs looks its tools up in the sbin directories, not $PATH: replace the tool itself.
tool=$(command -v iptables-nft-restore)
mv "$tool" "$tool.real"
printf '#!/bin/sh\necho "iptables-nft-restore: injected failure" >&2\nexit 1\n' >"$tool"
chmod 755 "$tool"
run_sync s.txt --iptables-backend nft
mv "$tool.real" "$tool"
expect_failed_naming s.txt "iptables"
served "the VIP while iptables-nft-restore fails"
ipset list -n | grep -qx KUBE-CLUSTER-IP && echo "  ok: the sets were programmed" || note_fail "KUBE-CLUSTER-IP missing"
converges --iptables-backend nft
served "the VIP once iptables-nft-restore works"
clean --iptables-backend nft
case_end

case_begin xtables-lock-held
# iptables-legacy-restore takes /run/xtables.lock at a table line and keeps it until COMMIT.
{ echo '*filter'; sleep 10; echo COMMIT; } | iptables-legacy-restore -w --noflush &
holder=$!
sleep 1
t0=$(date +%s)
run_sync s.txt --iptables-backend legacy
t1=$(date +%s)
wait $holder
[ $rc = 0 ] && echo "  ok: sync waited $((t1 - t0)) s for the lock and succeeded" || note_fail "sync exited $rc with the xtables lock held for 10 s"
[ $((t1 - t0)) -ge 7 ] && echo "  ok: it did wait" || note_fail "sync took $((t1 - t0)) s: the lock was not held?"
served "the VIP after waiting for the lock"
clean --iptables-backend legacy
case_end

case_begin read-only-proc-sys
# Everything forwarding needs is set; one IPVS sysctl differs and /proc/sys is made read-only.
modprobe ip_vs
sysctl -w net.ipv4.ip_forward=1 net.ipv4.vs.conntrack=1 net.ipv4.vs.expire_nodest_conn=1 >/dev/null
sysctl -w net.ipv4.vs.expire_quiescent_template=0 >/dev/null
mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys
run_sync s.txt --iptables-backend legacy
expect_failed_naming s.txt "expire_quiescent_template"
served "the VIP while a sysctl cannot be written"
umount /proc/sys
converges --iptables-backend legacy
clean --iptables-backend legacy
case_end

case_begin missing-scheduler
if modprobe -n ip_vs_twos 2>/dev/null; then
    vm_skip "this kernel has ip_vs_twos" "$VM_TEST/$_case"; _case_skipped=1
else
    {
        sed -n '1,/^---/p' $SEED | sed '$d'
        slice web-service TCP 8080 10.244.1.2 10.244.1.3
        printf -- '---\napiVersion: v1\nkind: Service\nmetadata: {name: twos, namespace: default, annotations: {kube-ipvs.io/scheduler: twos}}\n'
        printf 'spec: {clusterIP: 10.254.51.2, ports: [{port: 80, protocol: TCP, targetPort: 8080}]}\n'
        slice twos TCP 8080 10.244.1.2 10.244.1.3
    } >twos.yaml
    kube_sync twos.yaml s.txt
    expect_match s.txt "twos.*not available" "the Service with the missing scheduler is named"
    expect_vs_sched "TCP  10.254.51.2:80" "rr"
    served "the other Service's VIP"
    http_times 4 client1 "http://10.254.51.2/name" twos.txt
    expect_spread twos.txt "the twos Service, served with rr"
    kube_sync twos.yaml s2.txt
    expect_match s2.txt "^applied 0 operations" "the next sync applies 0 operations"
    clean --iptables-backend legacy
fi
[ -z "${_case_skipped:-}" ] && case_end

cases_done
