#!/bin/sh
# externalTrafficPolicy (issue 6, guest traffic d): through the NodePort and the LoadBalancer IP
# of an ETP=Local Service the pods see client1's own address 192.168.50.2 (no SNAT), and only
# this node's endpoints are real servers (not the endpoint on node2; the cluster IP keeps all
# three). Through the NodePort of an ETP=Cluster Service they see the node's address on the pod
# bridge, 10.244.1.1 (masqueraded). The pods report the peer with /cgi-bin/peer.
# vm: needs-binary timeout=240
. /vm/lib/traffic.sh

traffic_setup
{
    cat <<'M'
apiVersion: v1
kind: Service
metadata: {name: lb-local, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.254.43.10
  externalTrafficPolicy: Local
  ports: [{port: 80, protocol: TCP, targetPort: 8080, nodePort: 30430}]
status:
  loadBalancer:
    ingress: [{ip: 192.168.60.20}]
---
apiVersion: v1
kind: Service
metadata: {name: np-cluster, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.254.43.11
  externalTrafficPolicy: Cluster
  ports: [{port: 80, protocol: TCP, targetPort: 8080, nodePort: 30431}]
M
    slice lb-local TCP 8080 10.244.1.2 10.244.1.3 10.244.2.9@node2
    slice np-cluster TCP 8080 10.244.1.2 10.244.1.3
} >etp.yaml
sync_or_fail etp.yaml
for s in KUBE-NODE-PORT-TCP KUBE-NODE-PORT-LOCAL-TCP KUBE-LOAD-BALANCER KUBE-LOAD-BALANCER-LOCAL; do ipset list $s; done >sets.txt 2>&1
show "ipsets" sets.txt

case_begin local-nodeport
expect_set KUBE-NODE-PORT-TCP 30430
expect_set KUBE-NODE-PORT-LOCAL-TCP 30430
expect_vs "TCP  192.168.50.1:30430" 10.244.1.2:8080 10.244.1.3:8080
expect_vs "TCP  10.254.43.10:80" 10.244.1.2:8080 10.244.1.3:8080 10.244.2.9:8080
http_times 6 client1 http://192.168.50.1:30430/cgi-bin/peer peer-np.txt
expect_all peer-np.txt 192.168.50.2 "peer address the pods see through the ETP=Local NodePort 192.168.50.1:30430"
case_end

case_begin local-lb
expect_set KUBE-LOAD-BALANCER 192.168.60.20,tcp:80
expect_set KUBE-LOAD-BALANCER-LOCAL 192.168.60.20,tcp:80
expect_vs "TCP  192.168.60.20:80" 10.244.1.2:8080 10.244.1.3:8080
http_times 6 client1 http://192.168.60.20/cgi-bin/peer peer-lb.txt
expect_all peer-lb.txt 192.168.50.2 "peer address the pods see through the ETP=Local LoadBalancer IP 192.168.60.20"
case_end

case_begin cluster-nodeport
expect_set KUBE-NODE-PORT-TCP 30431
expect_no_set_member KUBE-NODE-PORT-LOCAL-TCP 30431
expect_vs "TCP  192.168.50.1:30431" 10.244.1.2:8080 10.244.1.3:8080
http_times 6 client1 http://192.168.50.1:30431/cgi-bin/peer peer-cl.txt
expect_all peer-cl.txt 10.244.1.1 "peer address the pods see through the ETP=Cluster NodePort 192.168.50.1:30431 (masqueraded)"
case_end

cases_done
