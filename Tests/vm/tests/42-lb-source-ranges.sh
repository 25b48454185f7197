#!/bin/sh
# LoadBalancer source ranges (issue 6, guest traffic c): the LoadBalancer Service lb-fw has the
# ingress IP 192.168.60.10 and loadBalancerSourceRanges [192.168.50.2/32]. client1 (192.168.50.2)
# is answered; client2 (192.168.50.3, on its own veth, same node address) times out, counted by
# the DROP rule of KUBE-SOURCE-RANGES-FIREWALL, while it is answered by lb-open (192.168.60.11,
# no source ranges), so client2 itself is fine. The node, outside the ranges, is dropped too
# (KUBE-IPVS-OUT-FILTER).
# vm: needs-binary timeout=300
. /vm/lib/traffic.sh

traffic_setup client1=192.168.50.2 client2=192.168.50.3
{
    cat <<'M'
apiVersion: v1
kind: Service
metadata: {name: lb-fw, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.254.42.10
  loadBalancerSourceRanges: [192.168.50.2/32]
  ports: [{port: 80, protocol: TCP, targetPort: 8080, nodePort: 30420}]
status:
  loadBalancer:
    ingress: [{ip: 192.168.60.10}]
---
apiVersion: v1
kind: Service
metadata: {name: lb-open, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.254.42.11
  ports: [{port: 80, protocol: TCP, targetPort: 8080, nodePort: 30421}]
status:
  loadBalancer:
    ingress: [{ip: 192.168.60.11}]
M
    slice lb-fw TCP 8080 10.244.1.2 10.244.1.3
    slice lb-open TCP 8080 10.244.1.2 10.244.1.3
} >lb.yaml
sync_or_fail lb.yaml
for s in KUBE-LOAD-BALANCER KUBE-LOAD-BALANCER-FW KUBE-LOAD-BALANCER-SOURCE-CIDR; do ipset list $s; done >sets.txt 2>&1
show "ipsets" sets.txt
iptables-save -t filter >filter.txt; show "iptables-save -t filter" filter.txt
# drops CHAIN: packets counted by the DROP rules of the filter chain CHAIN.
drops() { iptables -w -t filter -L "$1" -n -v -x 2>/dev/null | awk '$3 == "DROP" { n += $1 } END { print n + 0 }'; }
# timed_out CLIENT URL: a GET that gets no answer within 3 s (not refused, not answered).
timed_out() {
    on "$1" timeout 3 wget -q -O - "$2" >/dev/null 2>&1
    _rc=$?
    case $_rc in 124|143) return 0 ;; esac
    echo "  GET $2 from $1: exit $_rc"
    return 1
}

case_begin allowed
expect_bound 192.168.60.10
expect_vs "TCP  192.168.60.10:80" 10.244.1.2:8080 10.244.1.3:8080
expect_set KUBE-LOAD-BALANCER 192.168.60.10,tcp:80
expect_set KUBE-LOAD-BALANCER-FW 192.168.60.10,tcp:80
expect_set KUBE-LOAD-BALANCER-SOURCE-CIDR 192.168.60.10,tcp:80,192.168.50.2
expect_no_set_member KUBE-LOAD-BALANCER-FW 192.168.60.11,tcp:80
http_times 6 client1 http://192.168.60.10/name allowed.txt
expect_spread allowed.txt "6 GETs from client1 (192.168.50.2, in the source ranges) to 192.168.60.10"
case_end

case_begin dropped
http_times 4 client2 http://192.168.60.11/name open.txt
expect_spread open.txt "4 GETs from client2 to lb-open 192.168.60.11 (no source ranges)"
before=$(drops KUBE-SOURCE-RANGES-FIREWALL)
n=0
for i in 1 2 3; do timed_out client2 http://192.168.60.10/name && n=$((n + 1)); done
after=$(drops KUBE-SOURCE-RANGES-FIREWALL)
echo "  KUBE-SOURCE-RANGES-FIREWALL DROP counter: $before -> $after"
[ $n = 3 ] && echo "  ok: 3 GETs from client2 (192.168.50.3) to 192.168.60.10 time out" \
    || note_fail "client2 (192.168.50.3, outside the source ranges) to 192.168.60.10: expected 3 of 3 GETs to time out, $n did"
[ "$after" -gt "$before" ] && echo "  ok: KUBE-SOURCE-RANGES-FIREWALL dropped them" \
    || note_fail "KUBE-SOURCE-RANGES-FIREWALL DROP counter: expected to rise, found $before -> $after"
case_end

case_begin node-dropped
before=$(drops KUBE-IPVS-OUT-FILTER)
timed_out node http://192.168.60.10/name && echo "  ok: a GET from the node to 192.168.60.10 times out" \
    || note_fail "the node (outside the source ranges) to 192.168.60.10: expected the GET to time out"
after=$(drops KUBE-IPVS-OUT-FILTER)
echo "  KUBE-IPVS-OUT-FILTER DROP counter: $before -> $after"
[ "$after" -gt "$before" ] && echo "  ok: KUBE-IPVS-OUT-FILTER dropped it" \
    || note_fail "KUBE-IPVS-OUT-FILTER DROP counter: expected to rise, found $before -> $after"
case_end

cases_done
