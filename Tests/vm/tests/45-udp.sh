#!/bin/sh
# UDP (issue 6, guest traffic f): each pod runs a UDP server on 5353 answering every datagram
# with "<pod> <peer>" (pods_udp_up, socat); the Service dns maps 53/UDP to 5353 and has the
# NodePort 30053/UDP. Datagrams through the cluster IP (from the node, and from pod-a, a DNS
# client's usual place, which needs br_netfilter as on any node) and through the NodePort from
# client1 are answered by both pods. The client's socket is connected, so a reply counts only
# if it comes back from the address and port the datagram was sent to.
# vm: needs-binary timeout=300
. /vm/lib/traffic.sh

pods_up || die "pods_up failed"
pods_udp_up 5353 || die "pods_udp_up failed"
clients_up client1=192.168.50.2 || die "clients_up failed"
{
    cat <<'M'
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.254.45.10
  ports: [{port: 53, protocol: UDP, targetPort: 5353, nodePort: 30053}]
M
    slice dns UDP 5353 10.244.1.2 10.244.1.3
} >dns.yaml
sync_or_fail dns.yaml

case_begin clusterip
expect_vs "UDP  10.254.45.10:53" 10.244.1.2:5353 10.244.1.3:5353
expect_set KUBE-CLUSTER-IP 10.254.45.10,udp:53
udp_times 6 node 10.254.45.10 53 cip.txt
expect_spread cip.txt "6 datagrams from the node to 10.254.45.10:53"
case_end

# A pod as the client (to itself through the VIP too: hairpin, KUBE-LOOP-BACK). As on a real
# node, br_netfilter must be loaded for pod-to-pod traffic through a VIP.
case_begin clusterip-from-pod
pods_bridge_netfilter || note_fail "modprobe br_netfilter failed"
expect_set KUBE-LOOP-BACK 10.244.1.2,udp:5353,10.244.1.2
udp_times 4 pod-a 10.254.45.10 53 cip-pod.txt
expect_spread cip-pod.txt "4 datagrams from pod-a to 10.254.45.10:53"
case_end

case_begin nodeport
expect_vs "UDP  192.168.50.1:30053" 10.244.1.2:5353 10.244.1.3:5353
expect_set KUBE-NODE-PORT-UDP 30053
udp_times 6 client1 192.168.50.1 30053 np.txt
expect_spread np.txt "6 datagrams from client1 to 192.168.50.1:30053"
case_end

cases_done
