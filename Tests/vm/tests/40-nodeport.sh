#!/bin/sh
# NodePort from outside the node (issue 6, guest traffic a): `kube-ipvs sync` programs a NodePort
# Service; client1, a network namespace joined to the node by a veth (node 192.168.50.1, client
# 192.168.50.2), fetches 192.168.50.1:30080 and both pods answer. NodePort virtual servers exist
# on every node address (also 10.244.1.1 on the pod bridge), none on kube-ipvs0's addresses.
# vm: needs-binary timeout=240
. /vm/lib/traffic.sh

traffic_setup
{
    cat <<'M'
apiVersion: v1
kind: Service
metadata: {name: web-np, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.254.40.10
  ports: [{port: 80, protocol: TCP, targetPort: 8080, nodePort: 30080}]
M
    slice web-np TCP 8080 10.244.1.2 10.244.1.3
} >np.yaml
sync_or_fail np.yaml
ipset list KUBE-NODE-PORT-TCP >set.txt 2>&1; show "ipset list KUBE-NODE-PORT-TCP" set.txt

case_begin client1
expect_vs "TCP  192.168.50.1:30080" 10.244.1.2:8080 10.244.1.3:8080
expect_set KUBE-NODE-PORT-TCP 30080
grep -q "^TCP  10.254.40.10:30080 " ipvs-all.txt && note_fail "a NodePort virtual server on the cluster IP 10.254.40.10 (kube-ipvs0)"
http_times 10 client1 http://192.168.50.1:30080/name np.txt
expect_spread np.txt "10 GETs from client1 to 192.168.50.1:30080"
case_end

case_begin other-node-address
expect_vs "TCP  10.244.1.1:30080" 10.244.1.2:8080 10.244.1.3:8080
http_times 4 client1 http://10.244.1.1:30080/name np2.txt
expect_spread np2.txt "4 GETs from client1 to 10.244.1.1:30080"
case_end

cases_done
