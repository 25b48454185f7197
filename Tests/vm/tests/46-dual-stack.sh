#!/bin/sh
# Dual-stack (issue 6 item 2) on a real kernel: one `kube-ipvs sync` programs a Service with an
# IPv4 and an IPv6 cluster IP. The IPv6 family gets KUBE-6-* sets, ip6tables chains, a /128 on
# kube-ipvs0 and an IPv6 virtual server; both pods answer through the IPv6 VIP from the node, as
# through the IPv4 one; a second sync applies 0 operations (the IPv6 state reads back as written).
# vm: needs-binary timeout=300
. /vm/lib/traffic.sh

VIP4=10.254.46.10
VIP6=fd00:96::46
pods_up || die "pods_up failed"
# IPv6 on the pod bridge: kbr0 fd00:244:1::1/64, pod-a ::2, pod-b ::3 (no DAD: usable at once).
ip -6 addr add fd00:244:1::1/64 dev "$POD_BRIDGE" nodad || die "kbr0 IPv6 address"
for p in pod-a=2 pod-b=3; do
    ip -n "${p%%=*}" -6 addr add "fd00:244:1::${p#*=}/64" dev eth0 nodad || die "${p%%=*} IPv6 address"
    ip -n "${p%%=*}" -6 route add default via fd00:244:1::1 || die "${p%%=*} IPv6 route"
done
for i in 2 3; do
    n=0
    until [ -n "$(timeout 2 wget -q -O - "http://[fd00:244:1::$i]:8080/name" 2>/dev/null)" ]; do
        n=$((n + 1)); [ $n -ge 30 ] && die "pod fd00:244:1::$i does not answer over IPv6"; sleep 0.2
    done
done

cat >config.yaml <<'C'
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: ipvs
clusterCIDR: 10.244.0.0/16,fd00:244::/48
C
KUBE_IPVS_CONFIG=$PWD/config.yaml
cat >m.yaml <<M
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  ipFamilyPolicy: RequireDualStack
  clusterIP: $VIP4
  clusterIPs: [$VIP4, "$VIP6"]
  ports: [{port: 80, protocol: TCP, targetPort: 8080}]
$(slice web TCP 8080 10.244.1.2 10.244.1.3)
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-v6, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv6
ports: [{port: 8080, protocol: TCP}]
endpoints:
- {addresses: ["fd00:244:1::2"], conditions: {ready: true}, nodeName: node1}
- {addresses: ["fd00:244:1::3"], conditions: {ready: true}, nodeName: node1}
M
show "manifest" m.yaml

case_begin program
kube_sync m.yaml s1.txt
ipvsadm -Ln >ipvs.txt 2>&1; show "ipvsadm -Ln" ipvs.txt
if grep -qF "TCP  [$VIP6]:80 rr" ipvs.txt; then echo "  ok: IPv6 virtual server"; else note_fail "ipvsadm -Ln: no 'TCP  [$VIP6]:80 rr'"; fi
for rs in "[fd00:244:1::2]:8080" "[fd00:244:1::3]:8080"; do
    grep -qF -- "-> $rs" ipvs.txt || note_fail "ipvsadm -Ln: no real server $rs"
done
if ip -6 -o addr show dev kube-ipvs0 | grep -q " inet6 $VIP6/128 "; then echo "  ok: $VIP6/128 on kube-ipvs0"
else note_fail "kube-ipvs0: no $VIP6/128 [$(ip -6 -o addr show dev kube-ipvs0 | awk '{print $4}' | tr '\n' ' ')]"; fi
expect_set KUBE-6-CLUSTER-IP "$VIP6,tcp:80"
expect_set KUBE-CLUSTER-IP "$VIP4,tcp:80"
ip6tables-legacy-save -t nat >nat6.txt 2>&1; show "ip6tables-legacy-save -t nat" nat6.txt
grep -q -- "-A KUBE-SERVICES ! -s fd00:244::/48 .*--match-set KUBE-6-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ" nat6.txt \
    || note_fail "ip6tables nat: no cluster-IP masquerade rule with ! -s fd00:244::/48 and KUBE-6-CLUSTER-IP"
grep -q -- "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES" nat6.txt \
    || note_fail "ip6tables nat: no PREROUTING jump to KUBE-SERVICES"
ip6tables-legacy-save -t filter >filter6.txt 2>&1
grep -q -- "--reject-with icmp6-port-unreachable" filter6.txt || note_fail "ip6tables filter: no KUBE-IPVS-FILTER REJECT rule"
case_end

case_begin traffic-ipv6
http_times 10 node "http://[$VIP6]/name" a6.txt
expect_spread a6.txt "10 GETs to http://[$VIP6]/ from the node"
case_end

case_begin traffic-ipv4
http_times 10 node "http://$VIP4/name" a4.txt
expect_spread a4.txt "10 GETs to http://$VIP4/ from the node"
case_end

case_begin second-sync
kube_sync m.yaml s2.txt
if grep -q "^applied 0 operations" s2.txt; then echo "  ok: second sync applies 0 operations"
else note_fail "second sync: expected 'applied 0 operations', got '$(head -n 1 s2.txt)'"; fi
case_end
cases_done
