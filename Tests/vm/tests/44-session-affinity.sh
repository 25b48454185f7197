#!/bin/sh
# sessionAffinity ClientIP (issue 6, guest traffic e): the Service sticky (ClientIP, 600 s) has
# persistent virtual servers, and 20 GETs from client1 through its NodePort, and 20 through its
# cluster IP, are each answered by one pod only; through the NodePort of the Service plain (no
# affinity) both pods answer.
# vm: needs-binary timeout=240
. /vm/lib/traffic.sh

traffic_setup
{
    cat <<'M'
apiVersion: v1
kind: Service
metadata: {name: sticky, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.254.44.10
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}
  ports: [{port: 80, protocol: TCP, targetPort: 8080, nodePort: 30440}]
---
apiVersion: v1
kind: Service
metadata: {name: plain, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.254.44.11
  ports: [{port: 80, protocol: TCP, targetPort: 8080, nodePort: 30441}]
M
    slice sticky TCP 8080 10.244.1.2 10.244.1.3
    slice plain TCP 8080 10.244.1.2 10.244.1.3
} >aff.yaml
sync_or_fail aff.yaml

case_begin clientip-nodeport
expect_vs_sched "TCP  192.168.50.1:30440" "rr persistent 600"
expect_vs "TCP  192.168.50.1:30440" 10.244.1.2:8080 10.244.1.3:8080
http_times 20 client1 http://192.168.50.1:30440/name np.txt
expect_one_pod np.txt "20 GETs from client1 to the NodePort 192.168.50.1:30440"
case_end

case_begin clientip-clusterip
expect_vs_sched "TCP  10.254.44.10:80" "rr persistent 600"
http_times 20 client1 http://10.254.44.10/name cip.txt
expect_one_pod cip.txt "20 GETs from client1 to the cluster IP 10.254.44.10:80"
case_end

case_begin none
expect_vs_sched "TCP  192.168.50.1:30441" "rr"
http_times 20 client1 http://192.168.50.1:30441/name plain.txt
expect_spread plain.txt "20 GETs from client1 to the NodePort 192.168.50.1:30441 (no affinity)"
case_end

cases_done
