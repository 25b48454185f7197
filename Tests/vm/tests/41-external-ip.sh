#!/bin/sh
# externalIPs reached from outside the node (issue 6, guest traffic b): a Service with the
# externalIP 192.168.70.5, which no link of the node has, gets it bound on kube-ipvs0, a virtual
# server and a KUBE-EXTERNAL-IP entry, and client1 (routing everything via the node) is answered
# there by both pods. Its second externalIP 192.168.50.1 is the node's own address: answered
# too, but not bound on kube-ipvs0.
# vm: needs-binary timeout=240
. /vm/lib/traffic.sh

traffic_setup
{
    cat <<'M'
apiVersion: v1
kind: Service
metadata: {name: web-ext, namespace: default}
spec:
  type: ClusterIP
  clusterIP: 10.254.41.10
  externalIPs: [192.168.70.5, 192.168.50.1]
  ports: [{port: 80, protocol: TCP, targetPort: 8080}]
M
    slice web-ext TCP 8080 10.244.1.2 10.244.1.3
} >ext.yaml
sync_or_fail ext.yaml
ip -4 -o addr show >addr.txt; show "ip -4 -o addr show" addr.txt
ipset list KUBE-EXTERNAL-IP >set.txt 2>&1; show "ipset list KUBE-EXTERNAL-IP" set.txt

case_begin remote-address
expect_bound 192.168.70.5
expect_set KUBE-EXTERNAL-IP 192.168.70.5,tcp:80
expect_vs "TCP  192.168.70.5:80" 10.244.1.2:8080 10.244.1.3:8080
http_times 10 client1 http://192.168.70.5/name ext.txt
expect_spread ext.txt "10 GETs from client1 to 192.168.70.5:80"
case_end

case_begin local-address
expect_not_bound 192.168.50.1
expect_set KUBE-EXTERNAL-IP 192.168.50.1,tcp:80
expect_vs "TCP  192.168.50.1:80" 10.244.1.2:8080 10.244.1.3:8080
http_times 4 client1 http://192.168.50.1/name local.txt
expect_spread local.txt "4 GETs from client1 to 192.168.50.1:80"
case_end

cases_done
