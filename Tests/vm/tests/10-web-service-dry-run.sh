#!/bin/sh
# The seed scenario end to end: `kube-ipvs sync --dry-run -f <manifest>` (rendered on the
# host by 10-web-service-dry-run.host.sh; default examples/web-service.yaml) runs in the
# guest, then the real tools must show what the seed's operator typed by hand, and the
# Service VIP must be answered by both pods.
# vm: timeout=300
. /vm/lib/testlib.sh
. /vm/lib/pods.sh

VIP=10.254.10.128
PORT=80
PODS="pod-a=10.244.1.2 pod-b=10.244.1.3"
REQUESTS=20

pods_up $PODS || die "pod fixture did not come up"

# ---- the dry-run script, as printed by the host build
script=$VM_DATA/dry-run.sh
show "dry-run script (from $(basename "$KUBE_IPVS_VM_MANIFEST"))" "$script"
if ! sh "$script" >dry-run.out 2>&1; then
    rc=$?
    show "dry-run script output" dry-run.out
    die "the dry-run script failed (exit $rc): $(tail -n 2 dry-run.out | tr '\n' ' ')"
fi
echo "  ok: dry-run script ran"

# ---- IPVS
ipvsadm -Sn >ipvs.txt 2>&1
ipvsadm -Ln >ipvs-ln.txt 2>&1
expect_match ipvs.txt "^-A -t $VIP:$PORT -s [a-z]+" "IPVS virtual server $VIP:$PORT"
want="" missing=""
for spec in $PODS; do
    rs=${spec#*=}:$POD_PORT
    want="${want:+$want }$rs"
    grep -Eq -- "^-a -t $VIP:$PORT -r $rs -m -w [1-9]" ipvs.txt || missing="${missing:+$missing }$rs"
done
have=$(sed -n "s/^-a -t $VIP:$PORT -r \([^ ]*\) .*/\1/p" ipvs.txt | tr '\n' ' ' | sed 's/ $//')
if [ -z "$missing" ]; then
    echo "  ok: IPVS real servers $want (masquerade, weight > 0)"
else
    note_fail "IPVS real servers of $VIP:$PORT are [${have:-none}], expected [$want] (missing $missing)"
fi

# ---- the VIP is bound on kube-ipvs0
ip -o addr show dev kube-ipvs0 >addr.txt 2>&1
expect_match addr.txt "inet $VIP/32 " "$VIP bound on kube-ipvs0"

# ---- ipset
ipset list KUBE-CLUSTER-IP >ipset.txt 2>&1
expect_line ipset.txt "$VIP,tcp:$PORT" "ipset KUBE-CLUSTER-IP entry $VIP,tcp:$PORT"

# ---- iptables (legacy, as the dry-run's iptables-restore wrote it)
iptables-save >iptables.txt 2>&1
for chain in KUBE-SERVICES KUBE-POSTROUTING KUBE-MARK-MASQ; do
    expect_match iptables.txt "^:$chain " "nat chain $chain"
done
expect_match iptables.txt "^:KUBE-FORWARD " "filter chain KUBE-FORWARD"
expect_match iptables.txt "^-A PREROUTING .*-j KUBE-SERVICES" "jump PREROUTING -> KUBE-SERVICES"
expect_match iptables.txt "^-A OUTPUT .*-j KUBE-SERVICES" "jump OUTPUT -> KUBE-SERVICES"
expect_match iptables.txt "^-A POSTROUTING .*-j KUBE-POSTROUTING" "jump POSTROUTING -> KUBE-POSTROUTING"
expect_match iptables.txt "^-A FORWARD .*-j KUBE-FORWARD" "jump FORWARD -> KUBE-FORWARD"
expect_match iptables.txt "^-A KUBE-SERVICES .*--match-set KUBE-CLUSTER-IP dst,dst" "KUBE-SERVICES matches KUBE-CLUSTER-IP"
expect_match iptables.txt "^-A KUBE-POSTROUTING .*-j MASQUERADE" "KUBE-POSTROUTING masquerades"

# ---- traffic: the VIP from the node, like the seed's `curl http://10.254.10.128`
answers="" none=0 i=0
while [ $i -lt $REQUESTS ]; do
    i=$((i + 1))
    body=$(fetch "http://$VIP/")
    if [ -n "$body" ]; then answers="$answers $body"; else none=$((none + 1)); fi
done
tally=""
missing=""
for spec in $PODS; do
    name=${spec%%=*}
    c=$(echo "$answers" | tr ' ' '\n' | grep -cx "$name")
    tally="$tally$name $c, "
    [ "$c" -gt 0 ] || missing="$missing $name"
done
tally="${tally}no answer $none"
if [ -z "$missing" ] && [ $none = 0 ]; then
    echo "  ok: $REQUESTS requests to http://$VIP/ answered by every pod ($tally)"
else
    note_fail "$REQUESTS requests to http://$VIP/: $tally"
fi

if [ -n "$_vm_failures" ]; then
    show "ipvsadm -Ln" ipvs-ln.txt
    show "ipvsadm -Sn" ipvs.txt
    show "ip addr show kube-ipvs0" addr.txt
    show "ipset list KUBE-CLUSTER-IP" ipset.txt
    show "iptables-save" iptables.txt
fi
finish
