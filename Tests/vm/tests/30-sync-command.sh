#!/bin/sh
# `kube-ipvs sync` on a real kernel (issue 4's acceptance): the seed's web-service answers from both
# pods; a second sync applies 0 operations; one endpoint more or less is exactly 1 IPVS operation;
# each hand-made deletion (a real server, a set entry, a KUBE-* rule, a jump, the VIP address) is
# repaired by exactly one operation; foreign IPVS services, ipsets and chains stay byte-identical;
# iptables-save shows exactly the rules the dry-run prints.
# vm: needs-binary fresh-boot timeout=900
. /vm/lib/testlib.sh
. /vm/lib/pods.sh

VIP=10.254.10.128
CONFIG=/vm/examples/kube-proxy-config.yaml
sync_() {  # sync_ MANIFEST OUTFILE: one sync with the legacy iptables the guest's tools show
    kube-ipvs sync -f "$1" --config "$CONFIG" --hostname-override node1 --iptables-backend legacy >"$2" 2>&1
    rc=$?
    show "kube-ipvs sync -f $1 (exit $rc)" "$2"
    [ $rc = 0 ] || note_fail "sync -f $1 exited $rc: $(tail -n 1 "$2")"
}
# expect_applied FILE SUMMARY WHAT: the sync printed "applied SUMMARY with ..."
expect_applied() {
    if grep -q "^applied $2 with " "$1"; then echo "  ok: $3"; else note_fail "$3: expected 'applied $2', got '$(head -n 1 "$1")'"; fi
}
manifest() {  # manifest FILE ENDPOINT-IP...: the seed's Service with these Endpoints
    f=$1; shift
    sed -n '1,/^---/p' /vm/examples/web-service.yaml >"$f"
    printf 'apiVersion: v1\nkind: Endpoints\nmetadata: {name: web-service, namespace: default}\nsubsets:\n- ports: [{port: 8080, protocol: TCP}]\n  addresses:\n' >>"$f"
    for ip in "$@"; do echo "  - ip: $ip" >>"$f"; done
}
answers() {  # answers N: which pods answer N requests through the VIP, as "pod-a pod-b ..."
    : >ans.txt
    i=0; while [ $i -lt "$1" ]; do fetch "http://$VIP/name" >>ans.txt; echo >>ans.txt; i=$((i + 1)); done
    grep -v '^$' ans.txt | sort | uniq -c | tr -s ' \n' ' '
}
foreign_state() {  # everything kube-ipvs must never touch
    { ipvsadm -Sn | grep 192.168.77.1; ipset save FOREIGN; iptables-save -t nat | grep -E "FOREIGN|192.168.77"; \
      iptables-save -t filter | grep -E "FOREIGN|192.168.77"; } >"$1" 2>&1
}

pods_up pod-a=10.244.1.2 pod-b=10.244.1.3 pod-c=10.244.1.4 || die "pods_up failed"

# Foreign state made by hand before kube-ipvs runs.
modprobe ip_vs
ipvsadm -A -t 192.168.77.1:443 -s lc && ipvsadm -a -t 192.168.77.1:443 -r 192.168.77.2:443 -m -w 3
ipset create FOREIGN hash:ip && ipset add FOREIGN 192.168.77.9
iptables -t nat -N FOREIGN-CHAIN && iptables -t nat -A FOREIGN-CHAIN -s 192.168.77.0/24 -j RETURN
iptables -t nat -A PREROUTING -d 192.168.77.1 -j FOREIGN-CHAIN
iptables -t filter -A INPUT -s 192.168.77.5 -m comment --comment "foreign rule" -j ACCEPT
foreign_state foreign-before.txt
show "foreign state" foreign-before.txt

# 1. The seed: round-robin from both pods; the second sync applies nothing.
sync_ /vm/examples/web-service.yaml s1.txt
expect_match s1.txt "^applied [0-9]+ operations \(.*ipvs 3\)" "first sync applies the seed (3 IPVS operations)"
seen=$(answers 10)
echo "  answers: $seen"
case "$seen" in *pod-a*pod-b*) echo "  ok: both pods answer through the VIP" ;; *) note_fail "10 requests to the VIP: $seen, expected pod-a and pod-b" ;; esac
case "$seen" in *pod-c*) note_fail "pod-c answers but is not an endpoint" ;; esac
sync_ /vm/examples/web-service.yaml s2.txt
expect_applied s2.txt "0 operations" "second sync applies 0 operations"

# iptables-save holds exactly the KUBE-* rules the dry-run prints.
kube-ipvs sync --dry-run -f /vm/examples/web-service.yaml --config "$CONFIG" --hostname-override node1 >dry.sh
grep -E '^-A KUBE-' dry.sh | sort >dry-rules.txt
iptables-save | grep -E '^-A KUBE-' | sort >saved-rules.txt
if cmp -s dry-rules.txt saved-rules.txt; then echo "  ok: iptables-save KUBE-* rules equal the dry-run's ($(wc -l <saved-rules.txt) rules)"
else diff dry-rules.txt saved-rules.txt | head -n 20; note_fail "iptables-save KUBE-* rules differ from the dry-run's"; fi
for jump in "PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES" \
            "POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING" \
            "FORWARD -m comment --comment \"kube-proxy firewall rules\" -j KUBE-PROXY-FIREWALL"; do
    iptables-save | grep -qxF -- "-A $jump" && echo "  ok: jump $jump" || note_fail "missing jump -A $jump"
done

# 2. A third endpoint is one IPVS operation; removing one is one IPVS operation.
manifest three.yaml 10.244.1.2 10.244.1.3 10.244.1.4
sync_ three.yaml s3.txt
expect_applied s3.txt "1 operation (ipvs 1)" "third endpoint: exactly 1 IPVS operation"
seen=$(answers 12); echo "  answers: $seen"
case "$seen" in *pod-c*) echo "  ok: pod-c answers" ;; *) note_fail "after adding pod-c: $seen" ;; esac
manifest two.yaml 10.244.1.2 10.244.1.4
sync_ two.yaml s4.txt
expect_applied s4.txt "1 operation (ipvs 1)" "one endpoint removed: exactly 1 IPVS operation"
ipvsadm -Sn | grep -q "10.244.1.3:8080" && note_fail "10.244.1.3 still a real server" || echo "  ok: 10.244.1.3 removed"

# 3. Hand-made damage is repaired by exactly one operation each.
ipvsadm -d -t $VIP:80 -r 10.244.1.4:8080
sync_ two.yaml r1.txt
expect_applied r1.txt "1 operation (ipvs 1)" "deleted real server repaired"
ipset del KUBE-CLUSTER-IP $VIP,tcp:80
sync_ two.yaml r2.txt
expect_applied r2.txt "1 operation (ipset 1)" "deleted set entry repaired"
iptables -t nat -F KUBE-MARK-MASQ
sync_ two.yaml r3.txt
expect_applied r3.txt "1 operation (iptables 1)" "flushed KUBE-MARK-MASQ repaired"
iptables -t nat -D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
sync_ two.yaml r4.txt
expect_applied r4.txt "1 operation (iptables 1)" "deleted jump rule repaired"
ip addr del $VIP/32 dev kube-ipvs0
sync_ two.yaml r5.txt
expect_applied r5.txt "1 operation (link 1)" "deleted VIP address repaired"
iptables-save | grep -E '^-A KUBE-' | sort >saved-after.txt
cmp -s saved-rules.txt saved-after.txt && echo "  ok: KUBE-* rules as before" || note_fail "KUBE-* rules differ after repairs"
sync_ two.yaml r6.txt
expect_applied r6.txt "0 operations" "nothing left to repair"
seen=$(answers 6); echo "  answers: $seen"
case "$seen" in *pod-a*pod-c*) echo "  ok: traffic after repairs" ;; *) note_fail "after repairs: $seen" ;; esac

# 4. Foreign state is byte-identical.
foreign_state foreign-after.txt
if cmp -s foreign-before.txt foreign-after.txt; then echo "  ok: foreign IPVS service, ipset and chains identical"
else diff foreign-before.txt foreign-after.txt; note_fail "foreign state changed"; fi

finish
