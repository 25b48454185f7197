#!/bin/sh
# The whole sync through NodeKernel (Sources/Kernel/Node/NodeKernel.swift) on a bare guest node:
# the seed's web-service manifest -> DesiredState -> observe -> Plan -> apply, with every backend
# (modules, sysctls, kube-ipvs0 and its VIP, ipsets, iptables legacy, IPVS). Then: the second
# sync plans nothing; the VIP answers from both pods; one endpoint removal is applied in at most
# 2 kernel requests; a Service removal cleans up its VS, VIP and set entry. Fresh boot: no IPVS
# module is loaded at the first observe, so the IPVS family appears only after the prerequisites.
# vm: timeout=400 fresh-boot
. /vm/lib/testlib.sh
. /vm/lib/pods.sh
probe() { LD_LIBRARY_PATH=$VM_DATA/lib "$VM_DATA/kernel-probe" "$@"; }

svc() {  # svc FILE ENDPOINT-IP...: the seed Service with these endpoints (core/v1 Endpoints).
    f=$1; shift
    cat >"$f" <<'M'
apiVersion: v1
kind: Service
metadata: {name: web-service, namespace: default}
spec:
  type: ClusterIP
  clusterIP: 10.254.10.128
  ports: [{port: 80, protocol: TCP, targetPort: 8080}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: web-service, namespace: default}
subsets:
- ports: [{port: 8080, protocol: TCP}]
  addresses:
M
    for ip in "$@"; do echo "  - ip: $ip" >>"$f"; done
}

grep -q '^ip_vs ' /proc/modules && note_fail "ip_vs already loaded on a fresh boot" || echo "  ok: bare node (ip_vs not loaded)"
pods_up || die "pods_up"
svc seed.yaml 10.244.1.2 10.244.1.3
probe sync -f seed.yaml --cluster-cidr 10.244.0.0/16 --iptables legacy >s1.txt 2>&1; show "sync seed" s1.txt
expect_match s1.txt "^PLAN round=1 ops=[1-9][0-9]* prerequisite=[1-9].*ipvs=3 " "first sync plans modules and the seed (3 IPVS operations)"
expect_match s1.txt "^REPORT round=1 " "first sync applied"
expect_match s1.txt "^PLAN round=2 ops=0 " "second sync plans nothing"

ipvsadm -Sn >k.txt; show "ipvsadm -Sn" k.txt
expect_line k.txt "-A -t 10.254.10.128:80 -s rr" "virtual server"
expect_line k.txt "-a -t 10.254.10.128:80 -r 10.244.1.2:8080 -m -w 1" "real server pod-a"
expect_line k.txt "-a -t 10.254.10.128:80 -r 10.244.1.3:8080 -m -w 1" "real server pod-b"
ip addr show dev kube-ipvs0 >a.txt
expect_match a.txt "inet 10.254.10.128/32" "VIP bound on kube-ipvs0"
expect_match a.txt "state DOWN" "kube-ipvs0 left down"
ipset list KUBE-CLUSTER-IP >set.txt 2>&1
expect_line set.txt "10.254.10.128,tcp:80" "KUBE-CLUSTER-IP entry"
iptables-legacy-save -t nat >nat.txt 2>&1
expect_match nat.txt "^-A PREROUTING .*-j KUBE-SERVICES" "nat PREROUTING jump"
[ "$(cat /proc/sys/net/ipv4/vs/conntrack)" = 1 ] && echo "  ok: vs/conntrack=1" || note_fail "vs/conntrack not set"

# curl http://10.254.10.128 alternates between the two pods (seed §1).
: >answers.txt
for i in 1 2 3 4 5 6; do fetch http://10.254.10.128/name >>answers.txt; done
show answers answers.txt
grep -qx pod-a answers.txt && grep -qx pod-b answers.txt && echo "  ok: both pods answer through the VIP" \
    || note_fail "VIP answers: $(tr '\n' ' ' <answers.txt)"

# One endpoint gone: a small plan, at most 2 kernel requests for IPVS.
svc one.yaml 10.244.1.2
probe sync -f one.yaml --cluster-cidr 10.244.0.0/16 --iptables legacy --rounds 1 >s2.txt 2>&1; show "sync one endpoint removed" s2.txt
expect_match s2.txt "^PLAN round=1 ops=[12] " "endpoint removal plans 1-2 operations"
expect_match s2.txt "^REPORT round=1 ipvs [12] ops [12] requests" "and sends at most 2 IPVS requests"
: >answers2.txt
for i in 1 2 3 4; do fetch http://10.254.10.128/name >>answers2.txt; done
show answers answers2.txt
grep -qx pod-b answers2.txt && note_fail "pod-b still answers after removal" || echo "  ok: only pod-a answers"

# The Service gone: its VS, VIP and set entry are removed; foreign IPVS services stay.
ipvsadm -A -t 192.168.77.1:443 -s lc
echo "apiVersion: v1
kind: List
items: []" >none.yaml
probe sync -f none.yaml --cluster-cidr 10.244.0.0/16 --iptables legacy >s3.txt 2>&1; show "sync no services" s3.txt
expect_match s3.txt "^PLAN round=2 ops=0 " "nothing left to do after removal"
ipvsadm -Sn >k3.txt; show "ipvsadm -Sn" k3.txt
grep -q "10.254.10.128" k3.txt && note_fail "virtual server not removed" || echo "  ok: virtual server removed"
expect_line k3.txt "-A -t 192.168.77.1:443 -s lc" "foreign virtual server kept"
ip addr show dev kube-ipvs0 | grep -q 10.254.10.128 && note_fail "VIP not removed" || echo "  ok: VIP removed"
ipset list KUBE-CLUSTER-IP 2>&1 | grep -q "10.254.10.128" && note_fail "set entry not removed" || echo "  ok: set entry removed"
finish
