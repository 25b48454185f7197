# The node tier's steps after "node Ready" (sourced by run.sh): 3 deploy, 4 services,
# 5 rolling/removing, 6 two nodes. Each check prints PASS/FAIL with what it saw.
cip_web=10.254.80.80 cip_udp=10.254.53.53 nodeport=30080

# The kube-ipvs container's process in guest N: "PID" of the `kube-ipvs run` process.
daemon_pid() { gsh "$1" 'for p in /proc/[0-9]*; do tr "\0" " " <$p/cmdline 2>/dev/null | grep -q "^kube-ipvs run" && { echo ${p#/proc/}; break; }; done'; }
ds_ready() { # the DaemonSet's pods on every node are Ready and run image $1
    local want=$1 got
    got=$(k -n kube-system get pods -l app.kubernetes.io/name=kube-ipvs -o jsonpath='{range .items[*]}{.spec.containers[0].image} {.status.containerStatuses[0].ready} {.metadata.deletionTimestamp}{"\n"}{end}')
    [ "$(printf '%s\n' "$got" | grep -c "^kube-ipvs:$want true $")" = "$nodes" ] && [ "$(printf '%s\n' "$got" | grep -c .)" = "$nodes" ]
}
# The daemon container's log in guest N (CRI log files of the kubelet).
daemon_log() { gsh "$1" 'cat $(ls -t /var/log/pods/kube-system_kube-ipvs-*/kube-ipvs/*.log | head -n 1)'; }
# The newest kube-ipvs pod's first-sync line in guest N (the pod is Ready when its container
# starts: there is no readiness probe, so wait for this line).
first_sync() { gsh "$1" 'f=$(ls -td /var/log/pods/kube-system_kube-ipvs-* | head -n 1); grep -h "first sync" $f/kube-ipvs/*.log | tail -n 1'; }
first_sync_seen() { [ -n "$(first_sync "$1")" ]; }

# The daemon container's capabilities.add of daemonset.yaml as /proc/PID/status shows CapEff
# (16 hex digits), or with `names` the list itself.
want_caps() {
    local names bits=0 c
    names=$(sed -n '/^      containers:/,$p' "$state/deploy/daemonset.yaml" | sed -n 's/^ *add: \[\(.*\)\]$/\1/p' | head -n 1 | tr -d ' ' | tr ',' ' ')
    [ "${1:-}" = names ] && { echo "$names"; return; }
    for c in $names; do
        case $c in
            NET_ADMIN) bits=$((bits | 1 << 12)) ;; NET_RAW) bits=$((bits | 1 << 13)) ;;
            SYS_MODULE) bits=$((bits | 1 << 16)) ;; SYS_RESOURCE) bits=$((bits | 1 << 24)) ;;
            NET_BIND_SERVICE) bits=$((bits | 1 << 10)) ;; SYS_ADMIN) bits=$((bits | 1 << 21)) ;;
            *) return 1 ;;
        esac
    done
    printf '%016x\n' "$bits"
}

# --- 3. kube-ipvs from deploy/ ----------------------------------------------------------------
step_deploy() {
    local t0 n pid caps out want
    t0=$(date +%s)
    # Only the documented ConfigMap values: the API server's address (the guest's forward).
    cp -r "$repo/deploy" "$state/deploy"
    sed -i 's/^  apiserver-host: .*/  apiserver-host: 10.0.2.100/; s/^  apiserver-port: .*/  apiserver-port: "6443"/' "$state/deploy/configmap.yaml"
    if ! out=$(k apply -k "$state/deploy" 2>&1); then fail deploy/apply "kubectl apply -k deploy/: $out"; return 1; fi
    if wait_for 900 ds_ready "$tag"; then
        pass deploy/daemonset "kubectl apply -k deploy/ (apiserver-host 10.0.2.100): the DaemonSet's pod Ready on $nodes node(s) in $(( $(date +%s) - t0 )) s"
    else
        fail deploy/daemonset "pod not Ready in 900 s: $(k -n kube-system get pods -o wide 2>&1 | tail -n +2 | tr -s ' ' | tr '\n' ';') $(k -n kube-system describe pods -l app.kubernetes.io/name=kube-ipvs 2>&1 | grep -A12 Events: | tail -n 8 | tr -s ' ' | tr '\n' ';')"
        for n in $(seq 1 "$nodes"); do node_logs "$n"; done
        return 1
    fi
    for n in $(seq 1 "$nodes"); do
        # The pod is Ready when its container started (no readiness probe): wait for the sync.
        wait_for 300 first_sync_seen "$n" ||
            fail "deploy/first-sync/node$n" "no 'first sync' line in the daemon's log within 300 s"
        # The init container: exited 0; the IPVS modules loaded and the daemon's sysctls set.
        out=$(k -n kube-system get pods -l app.kubernetes.io/name=kube-ipvs --field-selector "spec.nodeName=node$n" \
            -o jsonpath='{.items[0].status.initContainerStatuses[0].state.terminated.exitCode}')
        caps=$(gsh "$n" 'echo "ip_vs=$(grep -c "^ip_vs " /proc/modules) conntrack=$(cat /proc/sys/net/ipv4/vs/conntrack) ip_forward=$(cat /proc/sys/net/ipv4/ip_forward) log=$(cat /var/log/pods/kube-system_kube-ipvs-*/prepare-node/0.log | grep -c .)"')
        if [ "$out" = 0 ] && printf '%s' "$caps" | grep -q 'ip_vs=1 conntrack=1 ip_forward=1'; then
            pass "deploy/init-container/node$n" "init container exited 0; after it: $caps (lines of its log)"
        else fail "deploy/init-container/node$n" "expected exit code 0, ip_vs loaded, net.ipv4.vs.conntrack=1, ip_forward=1; found exit code '$out', $caps"; fi
        # The daemon: not privileged, exactly the capabilities daemonset.yaml adds, read-only root.
        want=$(want_caps)
        pid=$(daemon_pid "$n")
        caps=$(gsh "$n" "grep CapEff /proc/$pid/status | cut -f2; grep ' / ' /proc/$pid/mounts | grep -q ' ro[ ,]' && echo rootfs-ro")
        if [ -n "$want" ] && printf '%s' "$caps" | grep -qx "$want" && printf '%s' "$caps" | grep -qx rootfs-ro; then
            pass "deploy/privileges/node$n" "kube-ipvs run (pid $pid in the guest): CapEff $want (exactly $(want_caps names) of daemonset.yaml), root filesystem read-only"
        else fail "deploy/privileges/node$n" "expected CapEff ${want:-?} ($(want_caps names)) and a read-only /, found: $(printf '%s' "$caps" | tr '\n' ' ')"; fi
        # The node programmed: the `kubernetes` Service 10.254.0.1:443 -> 10.0.2.100:6443.
        out=$(gsh "$n" 'ipvsadm -Ln -t 10.254.0.1:443; ip -o addr show kube-ipvs0; ipset list KUBE-CLUSTER-IP | grep 10.254.0.1; iptables-save -t nat | grep -c "^-A KUBE-SERVICES"; wget -qO- http://127.0.0.1:10256/healthz | head -c 200; echo')
        if printf '%s' "$out" | grep -q -- "-> 10.0.2.100:$KUBE_IPVS_APISERVER_PORT" && printf '%s' "$out" | grep -q 'inet 10.254.0.1/32' &&
           printf '%s' "$out" | grep -q '10.254.0.1,tcp:443' && printf '%s' "$out" | grep -q 'lastUpdated'; then
            pass "deploy/programmed/node$n" "IPVS 10.254.0.1:443 -> 10.0.2.100:$KUBE_IPVS_APISERVER_PORT (the API server's port, as Endpoints default/kubernetes says), 10.254.0.1 on kube-ipvs0, KUBE-CLUSTER-IP member, KUBE-SERVICES rules, /healthz answers"
        else fail "deploy/programmed/node$n" "expected the kubernetes Service programmed, found: $(printf '%s' "$out" | tr '\n' ';' | head -c 600)"; fi
        out=$(first_sync "$n")
        note "node$n: ${out:-no first-sync line}"
    done
}

# --- 4. pods through Services -----------------------------------------------------------------
web_manifest() { # REPLICAS
    cat <<EOT
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: $1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: localhost/kube-ipvs-testbox:1
        imagePullPolicy: Never
        command: [/bin/sh, -c, 'mkdir -p /tmp/www && hostname >/tmp/www/index.html && (socat UDP4-RECVFROM:5353,fork EXEC:/bin/hostname &) && exec httpd -f -p 8080 -h /tmp/www']
        ports: [{containerPort: 8080}, {containerPort: 5353, protocol: UDP}]
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 2}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: NodePort
  clusterIP: $cip_web
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: $nodeport}]
---
apiVersion: v1
kind: Service
metadata: {name: web-udp, namespace: default}
spec:
  clusterIP: $cip_udp
  selector: {app: web}
  ports: [{name: dns, port: 53, targetPort: 5353, protocol: UDP}]
EOT
}
client_manifest() { # NODE: a client pod that sends requests while /data/go exists (hostPath)
    cat <<EOT
apiVersion: v1
kind: Pod
metadata: {name: client-$1, namespace: default}
spec:
  nodeName: $1
  terminationGracePeriodSeconds: 1
  containers:
  - name: client
    image: localhost/kube-ipvs-testbox:1
    imagePullPolicy: Never
    # One request at a time; a line each: start time, seconds taken, ok + the pod's name or
    # FAILED + wget's error (15 s timeout: the guests are emulated and share 2 host cores).
    command: [/bin/sh, -c, 'while :; do if [ -f /data/go ]; then t=\$(date +%s); if r=\$(timeout 15 wget -qO- http://$cip_web/ 2>&1); then echo "\$t \$((\$(date +%s) - t)) ok \$r"; else echo "\$t \$((\$(date +%s) - t)) FAILED" \$r; fi >>/data/requests; else sleep 0.2; fi; done']
    volumeMounts: [{name: data, mountPath: /data}]
  volumes: [{name: data, hostPath: {path: /var/lib/node-test, type: DirectoryOrCreate}}]
EOT
}
# cexec N 'SCRIPT': run SCRIPT with sh inside guest N's client container.
cexec() {
    gsh "$1" "cid=\$(ctr -n k8s.io c ls | awk '/kube-ipvs-testbox/ {print \$1}' | while read c; do ctr -n k8s.io c info \$c | grep -q '\"io.kubernetes.pod.name\": \"client-node$1\"' && echo \$c; done | head -n 1)
ctr -n k8s.io t exec --exec-id e\$\$ \$cid sh -c '$2'" "${3:-300}"
}
tally() { sort | uniq -c | awk '{printf "%s%s x %d", (NR > 1 ? ", " : ""), $2, $1}'; }
rr_ok() { # the answers (one per line) come from exactly the two names, within 1 of each other
    local counts
    counts=$(sort | uniq -c | awk '{print $1}')
    [ "$(printf '%s\n' "$counts" | grep -c .)" = 2 ] && [ $(( $(printf '%s\n' "$counts" | head -n 1) - $(printf '%s\n' "$counts" | tail -n 1) )) -le 1 ] &&
        [ $(( $(printf '%s\n' "$counts" | tail -n 1) - $(printf '%s\n' "$counts" | head -n 1) )) -le 1 ]
}
ready_endpoints() { k get endpointslices -l kubernetes.io/service-name=web -o jsonpath='{range .items[*].endpoints[*]}{.conditions.ready}{"\n"}{end}' | grep -c true; }
endpoints_are() { [ "$(ready_endpoints)" = "$1" ]; }
sent=0 failed=0
step_services() {
    local out t0 ans n rtt t1 t2
    t0=$(date +%s)
    web_manifest 2 | k apply -f - >/dev/null
    client_manifest node1 | k apply -f - >/dev/null
    if ! wait_for 600 endpoints_are 2 || ! wait_for 300 sh -c "[ \"\$('$KUBECTL' --kubeconfig '$KUBE_IPVS_KUBECONFIG' get pod client-node1 -o jsonpath='{.status.phase}')\" = Running ]"; then
        fail services/pods "web pods or client not running in 600 s: $(k get pods -o wide 2>&1 | tail -n +2 | tr -s ' ' | tr '\n' ';')"; node_logs 1; return 1
    fi
    pass services/pods "Deployment web (2 pods, httpd + UDP) and the client pod running in $(( $(date +%s) - t0 )) s"
    # ClusterIP, 20 requests from the client pod: both pods, round-robin.
    ans=$(cexec 1 "for i in \$(seq 1 20); do timeout 5 wget -qO- http://$cip_web/ || echo no-answer; done")
    sent=$((sent + 20)); failed=$((failed + $(printf '%s\n' "$ans" | grep -c no-answer)))
    if printf '%s\n' "$ans" | grep -v no-answer | grep -c . | grep -qx 20 && printf '%s\n' "$ans" | rr_ok; then
        pass services/clusterip "20 requests from the client pod to http://$cip_web/: $(printf '%s\n' "$ans" | tally)"
    else fail services/clusterip "20 requests to http://$cip_web/ expected round-robin over the 2 pods, found: $(printf '%s\n' "$ans" | tally)"; fi
    # NodePort from the client pod (the node's address) and from the host (hostfwd = outside client).
    ans=$(cexec 1 "for i in \$(seq 1 10); do timeout 5 wget -qO- http://10.0.2.15:$nodeport/ || echo no-answer; done")
    sent=$((sent + 10)); failed=$((failed + $(printf '%s\n' "$ans" | grep -c no-answer)))
    if printf '%s\n' "$ans" | grep -v no-answer | grep -c . | grep -qx 10 && printf '%s\n' "$ans" | rr_ok; then
        pass services/nodeport "10 requests from the client pod to http://10.0.2.15:$nodeport/: $(printf '%s\n' "$ans" | tally)"
    else fail services/nodeport "10 requests to NodePort 10.0.2.15:$nodeport expected round-robin over 2 pods, found: $(printf '%s\n' "$ans" | tally)"; fi
    # UDP through the cluster IP.
    ans=$(cexec 1 "for i in 1 2 3 4 5 6; do echo q | timeout 5 socat -T 3 - UDP4:$cip_udp:53 || echo no-answer; done")
    sent=$((sent + 6)); failed=$((failed + $(printf '%s\n' "$ans" | grep -c no-answer)))
    if printf '%s\n' "$ans" | grep -v no-answer | grep -c . | grep -qx 6 && printf '%s\n' "$ans" | rr_ok; then
        pass services/udp "6 datagrams to $cip_udp:53/UDP answered: $(printf '%s\n' "$ans" | tally)"
    else fail services/udp "6 datagrams to $cip_udp:53/UDP expected answers from both pods, found: $(printf '%s\n' "$ans" | tally)"; fi
    # Scaling: the time from the third endpoint Ready in the API (host) to the third real server in
    # the guest's IPVS table, minus the channel's round trip (measured).
    t1=$(date +%s.%N); gsh 1 'echo' >/dev/null; t2=$(date +%s.%N)
    rtt=$(awk -v a="$t1" -v b="$t2" 'BEGIN {printf "%.2f", b - a}')
    k scale deployment web --replicas=3 >/dev/null
    if wait_for 600 endpoints_are 3; then
        t1=$(date +%s.%N)
        out=$(gsh 1 "for i in \$(seq 1 100); do [ \$(ipvsadm -Ln -t $cip_web:80 | grep -c ':8080') = 3 ] && { echo seen \$i; break; }; sleep 0.05; done" 60)
        t2=$(date +%s.%N)
        local lag; lag=$(awk -v a="$t1" -v b="$t2" -v r="$rtt" 'BEGIN {d = b - a - r; printf "%.2f", d < 0 ? 0 : d}')
        if printf '%s' "$out" | grep -q seen && awk -v l="$lag" 'BEGIN {exit !(l <= 1.0)}'; then
            pass services/scale "scaled to 3: the third real server in IPVS ${lag} s after its endpoint was Ready in the API (channel round trip ${rtt} s subtracted)"
        else fail services/scale "scaled to 3: expected 3 real servers of $cip_web:80 within 1 s of the API, found after ${lag} s: $out"; fi
    else fail services/scale "the third web pod not Ready in 600 s"; fi
    figures "services: requests sent $sent, failed $failed"
}

# --- 5. rolling, removing, adopting, cleanup --------------------------------------------------
# "OK FAILED SLOWEST-SECONDS" of the client's requests so far.
client_counts() { gsh 1 'grep -c " ok " /var/lib/node-test/requests; grep -c FAILED /var/lib/node-test/requests; awk "\$2 > m {m = \$2} END {print m + 0}" /var/lib/node-test/requests' | tr '\n' ' '; }
ds_absent() { [ -z "$(k -n kube-system get pods -l app.kubernetes.io/name=kube-ipvs -o name)" ]; }
step_rolling() {
    local t0 out ok bad c slowest
    gsh 1 'rm -f /var/lib/node-test/requests; touch /var/lib/node-test/go' >/dev/null
    sleep 5
    t0=$(date +%s)
    k -n kube-system set image daemonset/kube-ipvs "kube-ipvs=kube-ipvs:$tag2" "prepare-node=kube-ipvs:$tag2" >/dev/null
    if wait_for 900 ds_ready "$tag2"; then
        wait_for 300 first_sync_seen 1
        sleep 5
        gsh 1 'rm -f /var/lib/node-test/go' >/dev/null; sleep 6
        c=$(client_counts); ok=${c%% *}; bad=$(echo "$c" | awk '{print $2}'); slowest=$(echo "$c" | awk '{print $3}')
        figures "rolling update: requests sent $((ok + bad)), failed $bad, slowest ${slowest} s"
        out=$(first_sync 1)
        if [ "${bad:-1}" = 0 ] && [ "${ok:-0}" -gt 0 ]; then
            pass rolling/update "kube-ipvs:$tag -> kube-ipvs:$tag2 on $nodes node(s) in $(( $(date +%s) - t0 )) s while the client pod sent requests continuously: $ok answered (slowest ${slowest} s), 0 failed; the new pod: ${out##*] }"
        else fail rolling/update "expected no failed request during the rolling update, found $ok answered, $bad failed: $(gsh 1 'grep FAILED /var/lib/node-test/requests | head -n 3' | tr '\n' ';')"; fi
    else fail rolling/update "the DaemonSet did not roll to kube-ipvs:$tag2 in 900 s: $(k -n kube-system get pods -o wide | tail -n +2 | tr -s ' ' | tr '\n' ';')"; return 1; fi

    # kubectl delete: the rules stay, traffic flows.
    k -n kube-system delete daemonset kube-ipvs >/dev/null
    wait_for 300 ds_absent
    out=$(cexec 1 "for i in \$(seq 1 10); do timeout 5 wget -qO- http://$cip_web/ || echo no-answer; done")
    sent=$((sent + 10)); c=$(printf '%s\n' "$out" | grep -c no-answer); failed=$((failed + c))
    if ds_absent && [ "$c" = 0 ] && [ "$(gsh 1 "ipvsadm -Ln -t $cip_web:80 | grep -c ':8080'")" = 3 ]; then
        pass rolling/delete "DaemonSet deleted: IPVS still holds $cip_web:80 with 3 real servers; 10 requests all answered ($(printf '%s\n' "$out" | tally))"
    else fail rolling/delete "after kubectl delete expected the rules kept and 10 answers, found $c unanswered: $(gsh 1 "ipvsadm -Ln -t $cip_web:80" | tr '\n' ';')"; fi
    # Applied again: adopts the node with 0 operations.
    k apply -k "$state/deploy" >/dev/null
    if wait_for 900 ds_ready "$tag"; then
        wait_for 300 first_sync_seen 1
        out=$(first_sync 1)
        if printf '%s' "$out" | grep -q 'applied 0 operations'; then pass rolling/adopt "applied again: the new pod's first sync applied 0 operations"
        else fail rolling/adopt "applied again: expected 'first sync: applied 0 operations', found: ${out:-no first-sync line}"; fi
    else fail rolling/adopt "the DaemonSet's pod not Ready in 900 s after applying again"; fi

    # kube-ipvs cleanup from the image as a one-off pod (after deleting the DaemonSet: the daemon
    # would program the node again).
    k -n kube-system delete daemonset kube-ipvs >/dev/null; wait_for 300 ds_absent
    cat <<EOT | k apply -f - >/dev/null
apiVersion: v1
kind: Pod
metadata: {name: kube-ipvs-cleanup, namespace: kube-system}
spec:
  nodeName: node1
  hostNetwork: true
  restartPolicy: Never
  containers:
  - name: cleanup
    image: kube-ipvs:$tag
    imagePullPolicy: IfNotPresent
    command: [kube-ipvs, cleanup]
    securityContext:
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL], add: [NET_ADMIN, NET_RAW, SYS_MODULE]}
    volumeMounts:
    - {name: lib-modules, mountPath: /lib/modules, readOnly: true}
    - {name: xtables-lock, mountPath: /run/xtables.lock}
    - {name: node-lock, mountPath: /run/kube-ipvs.lock}
    - {name: tmp, mountPath: /tmp}
  volumes:
  - {name: lib-modules, hostPath: {path: /lib/modules, type: Directory}}
  - {name: xtables-lock, hostPath: {path: /run/xtables.lock, type: FileOrCreate}}
  - {name: node-lock, hostPath: {path: /run/kube-ipvs.lock, type: FileOrCreate}}
  - {name: tmp, emptyDir: {medium: Memory}}
EOT
    if wait_for 600 sh -c "'$KUBECTL' --kubeconfig '$KUBE_IPVS_KUBECONFIG' -n kube-system get pod kube-ipvs-cleanup -o jsonpath='{.status.phase}' | grep -qx Succeeded"; then
        out=$(gsh 1 'echo "ipvs: $(ipvsadm -Sn | grep -c .)"; echo "kube-ipvs0: $(ip -o link show kube-ipvs0 2>/dev/null | grep -c .)"; echo "sets: $(ipset list -n | grep -c ^KUBE-)"; echo "chains: $(iptables-save | grep -E "^:KUBE-(SERVICES|POSTROUTING|MARK-MASQ|NODE-PORT|LOAD-BALANCER|FIREWALL-|IPVS)" | grep -c .)"')
        if [ "$(printf '%s\n' "$out" | awk '{s += $2} END {print s}')" = 0 ]; then
            pass rolling/cleanup "kube-ipvs cleanup as a one-off pod from the image: no IPVS service, no kube-ipvs0, no KUBE- set, no KUBE- chain of kube-ipvs left ($(printf '%s' "$out" | tr '\n' ' '))"
        else fail rolling/cleanup "expected a clean node, found: $(printf '%s' "$out" | tr '\n' ' ')"; fi
    else fail rolling/cleanup "the cleanup pod did not succeed in 600 s: $(k -n kube-system get pod kube-ipvs-cleanup -o jsonpath='{.status}' | head -c 400)"; fi
    figures "total: requests sent $((sent + ok + bad)), failed $((failed + bad))"
}

# --- 6. two nodes -------------------------------------------------------------------------------
# The nodes share a QEMU socket network (eth1, 192.168.100.1N) with routes between the pod
# subnets (10.244.N.0/24): a Service's endpoints on both nodes, reached from a pod on each.
step_two_nodes() {
    local where ans n other
    where=$(k get pods -l app=web -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort | uniq -c | awk '{printf "%s%s x %d", (NR > 1 ? ", " : ""), $2, $1}')
    case $where in *node1*node2*) ;; *) fail two-nodes/spread "expected web pods on both nodes, found: $where"; return 1 ;; esac
    client_manifest node2 | k apply -f - >/dev/null
    if ! wait_for 300 sh -c "[ \"\$('$KUBECTL' --kubeconfig '$KUBE_IPVS_KUBECONFIG' get pod client-node2 -o jsonpath='{.status.phase}')\" = Running ]"; then
        fail two-nodes/client "client-node2 not running in 300 s"; return 1
    fi
    for n in 1 2; do
        ans=$(cexec "$n" "for i in \$(seq 1 12); do timeout 5 wget -qO- http://$cip_web/ || echo no-answer; done")
        sent=$((sent + 12)); failed=$((failed + $(printf '%s\n' "$ans" | grep -c no-answer)))
        if [ "$(printf '%s\n' "$ans" | grep -v no-answer | sort -u | grep -c .)" = 3 ] && ! printf '%s\n' "$ans" | grep -q no-answer; then
            pass "two-nodes/clusterip-from-node$n" "pods on $where; 12 requests from a pod on node$n to http://$cip_web/: $(printf '%s\n' "$ans" | tally)"
        else fail "two-nodes/clusterip-from-node$n" "12 requests from node$n expected answers from all 3 pods ($where), found: $(printf '%s\n' "$ans" | tally)"; fi
        other=$((3 - n))
        ans=$(cexec "$n" "for i in \$(seq 1 6); do timeout 5 wget -qO- http://192.168.100.1$other:$nodeport/ || echo no-answer; done")
        sent=$((sent + 6)); failed=$((failed + $(printf '%s\n' "$ans" | grep -c no-answer)))
        if [ "$(printf '%s\n' "$ans" | grep -c no-answer)" = 0 ]; then
            pass "two-nodes/nodeport-of-node$other" "6 requests from a pod on node$n to node$other's NodePort 192.168.100.1$other:$nodeport: $(printf '%s\n' "$ans" | tally)"
        else fail "two-nodes/nodeport-of-node$other" "6 requests from node$n to 192.168.100.1$other:$nodeport, found: $(printf '%s\n' "$ans" | tally)"; fi
    done
    figures "two nodes: requests sent $sent, failed $failed (with the services step's)"
}
