#!/bin/sh
# `kube-ipvs status` and `kube-ipvs cleanup` on a real kernel (issue 8 item 5). Foreign state is
# made by hand first (a hand-made IPVS service and one on a node address, a non-KUBE ipset, a
# foreign chain with a rule in PREROUTING, a foreign rule in INPUT, kubelet's KUBE-FIREWALL,
# KUBE-MARK-DROP and KUBE-KUBELET-CANARY, an address on another dummy link); then the seed and a
# NodePort Service are synced. `status` labels every virtual server with its Service port (or "not
# owned") and reports zero drift; after a real server is deleted by hand it reports exactly that
# drift. `cleanup` removes every owned object (virtual servers, kube-ipvs's chains and jumps, the
# KUBE-* sets, kube-ipvs0) and leaves the foreign state byte-identical; a second cleanup finds
# nothing, exits 0 and changes nothing; a sync afterwards programs the node from scratch.
# vm: needs-binary fresh-boot timeout=900
. /vm/lib/traffic.sh

CONFIG=/vm/examples/kube-proxy-config.yaml
VIP=10.254.10.128
# The chains kube-ipvs writes (docs/spec.md §3), as iptables-save declares them.
OWN_CHAINS='^:KUBE-(SERVICES|POSTROUTING|NODE-PORT|LOAD-BALANCER|MARK-MASQ|FORWARD|PROXY-FIREWALL|SOURCE-RANGES-FIREWALL|IPVS-FILTER|IPVS-OUT-FILTER) '

traffic_setup

# Foreign state, made before kube-ipvs runs.
modprobe ip_vs
modprobe dummy
ipvsadm -A -t 192.168.77.1:443 -s lc && ipvsadm -a -t 192.168.77.1:443 -r 192.168.77.2:443 -m -w 3
ipvsadm -A -t 192.168.50.1:8443 -s wrr -p 300 && ipvsadm -a -t 192.168.50.1:8443 -r 10.244.1.2:8443 -m -w 2
ipset create FOREIGN hash:ip && ipset add FOREIGN 192.168.77.9
ipset create KUBE-NOT-OURS hash:ip && ipset add KUBE-NOT-OURS 192.168.77.10
iptables -t nat -N FOREIGN-CHAIN && iptables -t nat -A FOREIGN-CHAIN -s 192.168.77.0/24 -j RETURN
iptables -t nat -A PREROUTING -d 192.168.77.1 -j FOREIGN-CHAIN
iptables -t filter -A INPUT -s 192.168.77.5 -m comment --comment "foreign rule" -j ACCEPT
# kubelet's chains (KUBE-* but not kube-ipvs's).
iptables -t filter -N KUBE-FIREWALL
iptables -t filter -A KUBE-FIREWALL -m comment --comment "kubernetes firewall for dropping marked packets" -m mark --mark 0x8000/0x8000 -j DROP
iptables -t filter -I INPUT 1 -j KUBE-FIREWALL
iptables -t nat -N KUBE-MARK-DROP && iptables -t nat -A KUBE-MARK-DROP -j MARK --or-mark 0x8000
iptables -t mangle -N KUBE-KUBELET-CANARY
ip link add foreign0 type dummy && ip addr add 192.168.88.1/32 dev foreign0

has() { expect_line "$1" "$2" "$1 has '$2'"; }
foreign_state() {  # everything kube-ipvs must never touch, counters left out
    { ipvsadm -Sn | grep -E "192\.168\.77\.|192\.168\.50\.1:8443"
      ipset save FOREIGN; ipset save KUBE-NOT-OURS
      iptables-save | sed 's/\[[0-9]*:[0-9]*\]//' | grep -E "FOREIGN|192\.168\.77|KUBE-FIREWALL|KUBE-MARK-DROP|KUBE-KUBELET-CANARY"
      ip -o addr show dev foreign0; } >"$1" 2>&1
}
node_state() {  # the whole node, counters left out
    { ipvsadm -Sn; ipset save; iptables-save | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'; ip6tables-save | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'
      ip -o addr show; } >"$1" 2>&1
}
foreign_state foreign-before.txt
show "foreign state" foreign-before.txt

{
    cat /vm/examples/web-service.yaml
    cat <<'M'
---
apiVersion: v1
kind: Service
metadata: {name: web-np, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.254.47.10
  ports: [{port: 80, protocol: TCP, targetPort: 8080, nodePort: 30080}]
M
    slice web-np TCP 8080 10.244.1.2 10.244.1.3
} >all.yaml
kube_sync all.yaml sync1.txt || { vm_fail "kube-ipvs sync failed: $(tail -n 1 sync1.txt)"; exit 1; }
status_() {  # status_ OUT ARGS...: kube-ipvs status ARGS, output in OUT
    _out=$1; shift
    kube-ipvs status "$@" --hostname-override node1 --iptables-backend legacy >"$_out" 2>&1
    _rc=$?
    show "kube-ipvs status $* (exit $_rc)" "$_out"
    return $_rc
}

case_begin status-in-step
status_ st1.txt -f all.yaml --config "$CONFIG" || note_fail "status exited non-zero: $(tail -n 1 st1.txt)"
has st1.txt "TCP  $VIP:80 rr  [default/web-service:80]"
has st1.txt "TCP  10.254.47.10:80 rr  [default/web-np:80]"
has st1.txt "TCP  192.168.50.1:30080 rr  [default/web-np:80]"
has st1.txt "TCP  192.168.88.1:30080 rr  [default/web-np:80]"
has st1.txt "TCP  192.168.77.1:443 lc  [not owned]"
has st1.txt "TCP  192.168.50.1:8443 wrr persistent 300  [not owned]"
expect_match st1.txt "^  -> 192\.168\.77\.2:443 +Masq +3 +0 +0$" "real server columns of the foreign service"
has st1.txt "Drift: none; the node is in step with 2 Service(s)"
# Connection counters: a few GETs through the VIP leave inactive (TIME_WAIT) connections.
i=0; while [ $i -lt 4 ]; do fetch "http://$VIP/name" >/dev/null; i=$((i + 1)); done
status_ st2.txt -f all.yaml --config "$CONFIG"
conns=$(awk -v vs="TCP  $VIP:80" '/^(TCP|UDP|SCTP) / { cur = index($0, vs) == 1; next } cur && /->/ { n += $5 + $6 } END { print n + 0 }' st2.txt)
[ "$conns" -ge 4 ] && echo "  ok: $conns connections counted on $VIP:80" || note_fail "ActiveConn+InActConn of $VIP:80 after 4 GETs: expected >= 4, found $conns"
status_ st3.txt --output json -f all.yaml --config "$CONFIG"
expect_match st3.txt '"inStep" : true' "json: inStep true"
expect_match st3.txt '"service" : "default/web-np:80"' "json: the NodePort's Service port"
expect_match st3.txt '"state" : "not owned"' "json: the foreign virtual servers"
status_ st4.txt
has st4.txt "TCP  $VIP:80 rr  [owned]"
has st4.txt "TCP  192.168.50.1:30080 rr  [owned]"
has st4.txt "TCP  192.168.50.1:8443 wrr persistent 300  [not owned]"
expect_match st4.txt "^Drift: unknown" "without a source the drift is unknown"
case_end

case_begin status-drift
ipvsadm -d -t $VIP:80 -r 10.244.1.3:8080
ipset del KUBE-NODE-PORT-TCP 30080
status_ st5.txt -f all.yaml --config "$CONFIG"
has st5.txt "Drift: 2 operations (ipset 1, ipvs 1) that sync would apply"
has st5.txt "  ipset add KUBE-NODE-PORT-TCP 30080   # default/web-np"
has st5.txt "  ipvsadm -a -t $VIP:80 -r 10.244.1.3:8080 -m -w 1   # default/web-service"
kube_sync all.yaml sync2.txt
expect_match sync2.txt "^applied 2 operations \(ipset 1, ipvs 1\)" "sync repairs exactly the reported drift"
status_ st6.txt -f all.yaml --config "$CONFIG"
has st6.txt "Drift: none; the node is in step with 2 Service(s)"
case_end

case_begin cleanup
node_state node-before-dry.txt
kube-ipvs cleanup --dry-run --iptables-backend legacy >dry.sh 2>&1 || note_fail "cleanup --dry-run exited non-zero: $(tail -n 1 dry.sh)"
show "kube-ipvs cleanup --dry-run" dry.sh
node_state node-after-dry.txt
cmp -s node-before-dry.txt node-after-dry.txt && echo "  ok: --dry-run changed nothing" || { diff node-before-dry.txt node-after-dry.txt | head -n 20; note_fail "cleanup --dry-run changed the node"; }
has dry.sh "ipvsadm -D -t $VIP:80"
has dry.sh "ipvsadm -D -t 192.168.50.1:30080"
has dry.sh "ipset destroy KUBE-CLUSTER-IP"
has dry.sh "ip link del kube-ipvs0"
grep -qE "192\.168\.77\.1|8443|KUBE-FIREWALL|KUBE-MARK-DROP|KUBE-NOT-OURS|FOREIGN" dry.sh && note_fail "the dry-run names foreign state: $(grep -E '192\.168\.77\.1|8443|KUBE-FIREWALL|KUBE-MARK-DROP|KUBE-NOT-OURS|FOREIGN' dry.sh | head -n 3)"

kube-ipvs cleanup --iptables-backend legacy >c1.txt 2>&1; rc=$?
show "kube-ipvs cleanup (exit $rc)" c1.txt
[ $rc = 0 ] || note_fail "cleanup exited $rc: $(tail -n 1 c1.txt)"
# 2 cluster IPs + NodePort 30080 on 192.168.50.1, 10.244.1.1 and 192.168.88.1; 9 jumps, 11 chains, 17 sets.
expect_match c1.txt "^removed 5 virtual server\(s\), 9 jump rule\(s\), 11 chain\(s\), 17 ipset\(s\) and the kube-ipvs0 link with " "cleanup summary"
ip link show kube-ipvs0 >/dev/null 2>&1 && note_fail "kube-ipvs0 still exists"
left=$(ipset list -n | grep '^KUBE-' | grep -vx KUBE-NOT-OURS | tr '\n' ' ')
[ -z "$left" ] && echo "  ok: no KUBE-* set of kube-ipvs" || note_fail "KUBE-* sets left: $left"
left=$( { iptables-save; ip6tables-save; } | grep -E "$OWN_CHAINS" | tr '\n' ' ')
[ -z "$left" ] && echo "  ok: no chain of kube-ipvs" || note_fail "chains left: $left"
left=$( { iptables-save; ip6tables-save; } | grep -E -- "-j KUBE-(SERVICES|POSTROUTING|NODE-PORT|FORWARD|PROXY-FIREWALL|IPVS-FILTER|IPVS-OUT-FILTER)( |$)" | tr '\n' ' ')
[ -z "$left" ] && echo "  ok: no jump of kube-ipvs" || note_fail "jumps left: $left"
left=$(ipvsadm -Sn | grep '^-A' | grep -vE "192\.168\.77\.1:443|192\.168\.50\.1:8443" | tr '\n' ' ')
[ -z "$left" ] && echo "  ok: only the foreign virtual servers remain" || note_fail "virtual servers left: $left"
foreign_state foreign-after.txt
if cmp -s foreign-before.txt foreign-after.txt; then echo "  ok: foreign IPVS services, ipsets, chains, rules and addresses identical"
else diff foreign-before.txt foreign-after.txt; note_fail "foreign state changed"; fi
case_end

case_begin cleanup-twice
node_state node-1.txt
kube-ipvs cleanup --iptables-backend legacy >c2.txt 2>&1; rc=$?
show "kube-ipvs cleanup, again (exit $rc)" c2.txt
[ $rc = 0 ] || note_fail "second cleanup exited $rc"
has c2.txt "nothing to clean up: no virtual server, jump rule, chain, ipset or link of kube-ipvs on this node"
node_state node-2.txt
cmp -s node-1.txt node-2.txt && echo "  ok: the second cleanup changed nothing" || { diff node-1.txt node-2.txt | head -n 20; note_fail "the second cleanup changed the node"; }
case_end

case_begin sync-after-cleanup
kube_sync all.yaml sync3.txt
expect_match sync3.txt "^applied [0-9]+ operations " "sync from scratch"
http_times 6 client1 http://192.168.50.1:30080/name np.txt
expect_spread np.txt "6 GETs from client1 to the NodePort after cleanup and sync"
seen=$(fetch "http://$VIP/name")
case "$seen" in pod-a|pod-b) echo "  ok: $VIP answers ($seen)" ;; *) note_fail "GET http://$VIP/name after cleanup and sync: '$seen'" ;; esac
status_ st7.txt -f all.yaml --config "$CONFIG"
has st7.txt "Drift: none; the node is in step with 2 Service(s)"
foreign_state foreign-final.txt
cmp -s foreign-before.txt foreign-final.txt && echo "  ok: foreign state still identical" || { diff foreign-before.txt foreign-final.txt; note_fail "foreign state changed by the second sync"; }
case_end

cases_done
