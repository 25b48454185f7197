#!/bin/sh
# Real configurations, only the binary swapped: kube-ipvs started as kube-proxy with the exact
# command lines and files of kubeadm's DaemonSet and ConfigMap, kubespray's, kops's static pod (a
# control-plane node and a worker) and k3s's and RKE2's kube-proxy arguments. The fixtures are in
# Tests/deploy/realconfigs/<case>/ (argv: the argument vector, one per line; root/: the files at
# their absolute paths; each cites its source), case.env holds this harness's parameters.
# /usr/local/bin/kube-proxy is a link to kube-ipvs, so argv[0] is kube-proxy as in the images.
#
# Per case, on a clean node (the guest is the node, thrown away after the boot):
#   - the case's files at their paths, the credentials its kubeconfig names (service account
#     token and CA, the k3s/RKE2 agent certificates, or the kops kubeconfig's embedded data, from
#     the host hook's throwaway PKI), /etc/hosts mapping the kubeconfig's host name to 127.0.0.1;
#   - a static API server (socat TLS + /vm/lib/fake-api.sh) at the kubeconfig's address, whose
#     certificate the kubeconfig's CA validates, requiring the case's credential (bearer token or
#     client certificate: checked first with a request that lacks it), serving one NodePort
#     Service with a cluster IP from the distribution's Service range and its EndpointSlice (the
#     pods pod-a and pod-b), and the Node;
#   - the command line, verbatim ($(NODE_NAME) expanded as kubelet does); then: the daemon logs
#     its first sync, IPVS has the cluster IP and the NodePort with both pods, KUBE-CLUSTER-IP
#     has the cluster IP, the KUBE-SERVICES jump is in nat PREROUTING, a GET through the cluster
#     IP (from the node) and through the NodePort (from client1) is answered by a pod, /healthz
#     answers 200 at the configured address, the API saw the Services list with the credential;
#     the daemon's oom_score_adj and the conntrack size and TCP timeouts are what kube-proxy sets
#     for that configuration (reset to the kernel's values before each case);
#   - SIGTERM, `kube-ipvs cleanup`, the files removed.
# k3s-default-mode (k3s's own default, proxy-mode=iptables) must be refused: exit status not 0,
# an error naming the mode, nothing programmed.
# One result line per case: PASS|FAIL 60-real-configs/<case>. Two CPUs (qemu= below), so that
# kops's --conntrack-max-per-core=131072 (262,144) and the default 32768 (131,072, the min) differ.
# vm: needs-binary fresh-boot timeout=1800 qemu=-smp 2
. /vm/lib/traffic.sh

CASES=${REAL_CONFIG_CASES:-kubeadm kubespray kops-control-plane kops-node k3s rke2 k3s-default-mode}
PKI=$VM_DATA/pki
TOKEN=real-configs-token-0123456789abcdef
FIRST_SYNC_SECS=300

traffic_setup
ln -sf kube-ipvs /usr/local/bin/kube-proxy
cp /etc/hosts hosts.orig
NODE_ADDR=$CLIENT_GATEWAY

# api_objects DIR SERVICE_IP: the static API's answers.
api_objects() {
    mkdir -p "$1"
    : >"$1/requests.log"
    printf '{"kind":"APIGroup","apiVersion":"v1","name":"discovery.k8s.io","versions":[{"groupVersion":"discovery.k8s.io/v1","version":"v1"}],"preferredVersion":{"groupVersion":"discovery.k8s.io/v1","version":"v1"}}\n' >"$1/discovery.json"
    printf '{"major":"1","minor":"33","gitVersion":"v1.33.0"}\n' >"$1/version.json"
    printf '{"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"20"},"items":[{"metadata":{"name":"web","namespace":"default","uid":"4c1c0e6a-0000-4000-8000-000000000001","resourceVersion":"11"},"spec":{"type":"NodePort","clusterIP":"%s","clusterIPs":["%s"],"ipFamilies":["IPv4"],"ipFamilyPolicy":"SingleStack","ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080,"nodePort":30080}],"selector":{"app":"web"},"sessionAffinity":"None","externalTrafficPolicy":"Cluster","internalTrafficPolicy":"Cluster"}}]}\n' \
        "$2" "$2" >"$1/services.json"
    printf '{"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","metadata":{"resourceVersion":"20"},"items":[{"metadata":{"name":"web-x7k2p","namespace":"default","uid":"4c1c0e6a-0000-4000-8000-000000000002","resourceVersion":"12","labels":{"kubernetes.io/service-name":"web","endpointslice.kubernetes.io/managed-by":"endpointslice-controller.k8s.io"}},"addressType":"IPv4","endpoints":[{"addresses":["10.244.1.2"],"conditions":{"ready":true,"serving":true,"terminating":false},"nodeName":"node1"},{"addresses":["10.244.1.3"],"conditions":{"ready":true,"serving":true,"terminating":false},"nodeName":"node1"}],"ports":[{"name":"http","protocol":"TCP","port":8080}]}]}\n' \
        >"$1/endpointslices.json"
    printf '{"kind":"NodeList","apiVersion":"v1","metadata":{"resourceVersion":"20"},"items":[{"metadata":{"name":"@NODE@","uid":"4c1c0e6a-0000-4000-8000-000000000003","resourceVersion":"13"},"spec":{"podCIDR":"10.244.1.0/24","podCIDRs":["10.244.1.0/24"]},"status":{"addresses":[{"type":"InternalIP","address":"%s"},{"type":"Hostname","address":"@NODE@"}]}}]}\n' \
        "$NODE_ADDR" >"$1/nodes.json"
}

# api_start DIR: the static API server on $API over TLS; with API_AUTH=cert it requires a client
# certificate of the test CA, with token the bearer token.
api_start() {
    _host=${API%:*}
    _port=${API##*:}
    if [ "$API_AUTH" = cert ]; then
        _verify="verify=1,cafile=$PKI/ca.crt"
        FAKE_API_TOKEN=""
    else
        _verify="verify=0"
        FAKE_API_TOKEN=$TOKEN
    fi
    export FAKE_API_DIR=$1 FAKE_API_TOKEN
    # -t 60: a client that half-closes after its request still gets the (slow) answer.
    socat -t 60 "OPENSSL-LISTEN:$_port,bind=$_host,reuseaddr,fork,cert=$PKI/server.crt,key=$PKI/server.key,$_verify" \
        SYSTEM:"sh /vm/lib/fake-api.sh" 2>>"$1/socat.log" &
    API_PID=$!
    _i=0
    while ! netstat -ltn 2>/dev/null | grep -q " $_host:$_port "; do
        _i=$((_i + 1))
        [ $_i -gt 100 ] && { note_fail "the fake API server did not listen on $API"; return 1; }
        sleep 0.1
    done
}

# api_get HOST:PORT PATH [SOCAT-OPTIONS]: one GET over TLS with socat as the client, trusting the
# test CA, with the header line $API_PROBE_HEADER if set; SOCAT-OPTIONS are extra options of the
# OPENSSL address (cert=...,key=...). Prints the status line, nothing when TLS fails.
api_get() {
    _a=$1 _p=$2 _o=${3:-}
    {
        printf 'GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n' "$_p"
        [ -n "${API_PROBE_HEADER:-}" ] && printf '%s\r\n' "$API_PROBE_HEADER"
        printf '\r\n'
    } | timeout 20 socat -t 10 - "OPENSSL:$_a,cafile=$PKI/ca.crt,verify=1${_o:+,$_o}" 2>>probe.log | head -n 1 | tr -d '\r'
}

# install_files CASE_DIR: the case's files at their absolute paths (kops kubeconfig data filled in),
# listed in installed.txt; then the credentials its kubeconfig names.
install_files() {
    : >installed.txt
    _ca=$(base64 -w 0 <"$PKI/ca.crt")
    _cc=$(base64 -w 0 <"$PKI/client.crt")
    _ck=$(base64 -w 0 <"$PKI/client.key")
    (cd "$1/root" && find . -type f) | while IFS= read -r _f; do
        _f=${_f#.}
        mkdir -p "${_f%/*}"
        sed -e "s|@CA_DATA@|$_ca|" -e "s|@CLIENT_CERT_DATA@|$_cc|" -e "s|@CLIENT_KEY_DATA@|$_ck|" "$1/root$_f" >"$_f"
        echo "$_f" >>installed.txt
    done
    case $CREDS in
        serviceaccount)
            _d=/var/run/secrets/kubernetes.io/serviceaccount
            mkdir -p "$_d"
            cp "$PKI/ca.crt" "$_d/ca.crt"
            printf '%s' "$TOKEN" >"$_d/token"
            printf '%s\n' "$_d/ca.crt" "$_d/token" >>installed.txt
            ;;
        dir:*)
            _d=${CREDS#dir:}
            mkdir -p "$_d"
            cp "$PKI/ca.crt" "$_d/server-ca.crt"
            cp "$PKI/client.crt" "$_d/client-kube-proxy.crt"
            cp "$PKI/client.key" "$_d/client-kube-proxy.key"
            printf '%s\n' "$_d/server-ca.crt" "$_d/client-kube-proxy.crt" "$_d/client-kube-proxy.key" >>installed.txt
            ;;
    esac
    for _h in ${HOSTS:-}; do echo "127.0.0.1 $_h" >>/etc/hosts; done
}

# run_argv CASE_DIR LOG: the case's command line in the background (DAEMON is its pid).
run_argv() {
    _argv=$1/argv _log=$2
    set --
    while IFS= read -r _a; do
        case $_a in ''|'#'*) continue ;; esac
        _a=$(printf '%s' "$_a" | sed "s/\$(NODE_NAME)/$NODE_NAME/g")
        set -- "$@" "$_a"
    done <"$_argv"
    echo "  \$ $*"
    "$@" >"$_log" 2>&1 &
    DAEMON=$!
}

# stop_daemon: SIGTERM, up to 20 s, then SIGKILL.
stop_daemon() {
    kill -TERM "$DAEMON" 2>/dev/null || return 0
    _i=0
    while kill -0 "$DAEMON" 2>/dev/null && [ $_i -lt 100 ]; do sleep 0.2; _i=$((_i + 1)); done
    if kill -0 "$DAEMON" 2>/dev/null; then
        note_fail "the daemon did not stop within 20 s of SIGTERM"
        kill -KILL "$DAEMON"
    fi
    wait "$DAEMON" 2>/dev/null
}

iptables_all() { { iptables-legacy-save; iptables-nft-save; } 2>/dev/null; }

node_clean() {
    _vs=$(ipvsadm -Ln | grep -c '^TCP ')
    _rules=$(iptables_all | grep -c 'KUBE-')
    [ "$_vs" = 0 ] && [ "$_rules" = 0 ] && ! ip link show kube-ipvs0 >/dev/null 2>&1
}

check_program() {
    _i=0
    while kill -0 "$DAEMON" 2>/dev/null && ! grep -q "first sync: applied" "$LOG" && [ $_i -lt $((FIRST_SYNC_SECS * 5)) ]; do
        sleep 0.2; _i=$((_i + 1))
    done
    if ! kill -0 "$DAEMON" 2>/dev/null; then
        wait "$DAEMON"; _rc=$?
        show "kube-proxy (kube-ipvs) exited with status $_rc" "$LOG"
        note_fail "the daemon exited with status $_rc: $(grep -v '^[[:space:]]*$' "$LOG" | tail -n 1)"
        return
    fi
    if ! grep -q "first sync: applied" "$LOG"; then
        show "daemon log" "$LOG"
        note_fail "no first sync within ${FIRST_SYNC_SECS}s: $(tail -n 1 "$LOG")"
        return
    fi
    echo "  $(grep -m 1 'first sync: applied' "$LOG")"
    expect_vs "TCP  $SERVICE_IP:80" 10.244.1.2:8080 10.244.1.3:8080
    expect_vs "TCP  $NODE_ADDR:30080" 10.244.1.2:8080 10.244.1.3:8080
    expect_set KUBE-CLUSTER-IP "$SERVICE_IP,tcp:80"
    iptables_all >iptables.txt
    if grep -q -- '-A PREROUTING .*-j KUBE-SERVICES' iptables.txt; then
        echo "  ok: nat PREROUTING jumps to KUBE-SERVICES"
    else
        note_fail "iptables: no PREROUTING jump to KUBE-SERVICES"
    fi
    _r=$(fetch "http://$SERVICE_IP/" | head -n 1)
    case $_r in
        pod-a|pod-b) echo "  ok: GET http://$SERVICE_IP/ from the node answered by $_r" ;;
        *) note_fail "GET http://$SERVICE_IP/ from the node: expected pod-a or pod-b, got '${_r:-no answer}'" ;;
    esac
    _r=$(http_get client1 "http://$NODE_ADDR:30080/" | head -n 1)
    case $_r in
        pod-a|pod-b) echo "  ok: GET http://$NODE_ADDR:30080/ from client1 answered by $_r" ;;
        *) note_fail "GET http://$NODE_ADDR:30080/ from client1: expected pod-a or pod-b, got '${_r:-no answer}'" ;;
    esac
    if timeout 5 wget -q -O healthz.txt "http://$HEALTHZ/healthz" 2>/dev/null; then
        echo "  ok: http://$HEALTHZ/healthz answers 200: $(head -c 200 healthz.txt)"
    else
        note_fail "http://$HEALTHZ/healthz does not answer 200"
    fi
    if grep -q "^GET /api/v1/services watch=false auth=$([ "$API_AUTH" = token ] && echo Bearer || echo none)\$" "$API_DIR/requests.log"; then
        echo "  ok: the API server listed Services for the daemon ($API_AUTH)"
    else
        note_fail "the API server saw no Services list ($API_AUTH): $(tr '\n' ';' <"$API_DIR/requests.log" | head -c 300)"
    fi
    check_tuning
}

# check_tuning: what kube-proxy would have given the process and the node (case.env).
check_tuning() {
    _oom=$(cat /proc/"$DAEMON"/oom_score_adj 2>/dev/null)
    [ "$_oom" = "$OOM_SCORE_ADJ" ] && echo "  ok: oom_score_adj $_oom" ||
        note_fail "oom_score_adj of the daemon: expected $OOM_SCORE_ADJ, found ${_oom:-none}"
    if [ "$CONNTRACK_MAX_PER_CORE" = 0 ]; then
        _want=$CT_MAX0
    else
        _want=$((CONNTRACK_MAX_PER_CORE * NCPU))
        [ "$_want" -gt 1048576 ] && _want=1048576
        [ "$_want" -lt "$CONNTRACK_MIN" ] && _want=$CONNTRACK_MIN
        [ "$_want" -lt "$CT_MAX0" ] && _want=$CT_MAX0
    fi
    expect_sysctl net.netfilter.nf_conntrack_max "$_want"
    [ "$TCP_ESTABLISHED" = keep ] && _want=$CT_EST0 || _want=$TCP_ESTABLISHED
    expect_sysctl net.netfilter.nf_conntrack_tcp_timeout_established "$_want"
    [ "$TCP_CLOSE_WAIT" = keep ] && _want=$CT_CW0 || _want=$TCP_CLOSE_WAIT
    expect_sysctl net.netfilter.nf_conntrack_tcp_timeout_close_wait "$_want"
}

expect_sysctl() { # NAME VALUE
    _v=$(sysctl -n "$1" 2>/dev/null)
    [ "$_v" = "$2" ] && echo "  ok: $1 = $_v" || note_fail "$1: expected $2, found ${_v:-nothing}"
}

# The kernel's conntrack settings before any case; each case starts from them.
modprobe nf_conntrack
NCPU=$(nproc)
CT_MAX0=$(sysctl -n net.netfilter.nf_conntrack_max)
CT_EST0=$(sysctl -n net.netfilter.nf_conntrack_tcp_timeout_established)
CT_CW0=$(sysctl -n net.netfilter.nf_conntrack_tcp_timeout_close_wait)
echo "  $NCPU CPU(s); conntrack at boot: max $CT_MAX0, established $CT_EST0 s, close-wait $CT_CW0 s"
conntrack_reset() {
    sysctl -q -w net.netfilter.nf_conntrack_max="$CT_MAX0" \
        net.netfilter.nf_conntrack_tcp_timeout_established="$CT_EST0" \
        net.netfilter.nf_conntrack_tcp_timeout_close_wait="$CT_CW0"
}

check_refuse() {
    _i=0
    while kill -0 "$DAEMON" 2>/dev/null && [ $_i -lt 300 ]; do sleep 0.2; _i=$((_i + 1)); done
    if kill -0 "$DAEMON" 2>/dev/null; then
        show "daemon log" "$LOG"
        note_fail "still running after 60 s; expected it to refuse proxy-mode=iptables"
        return
    fi
    wait "$DAEMON"; _rc=$?
    show "kube-proxy (kube-ipvs) exited with status $_rc" "$LOG"
    [ "$_rc" != 0 ] || note_fail "exit status 0; expected an error for proxy-mode=iptables"
    if grep -qiE 'proxy.mode.*iptables|iptables.*proxy.mode' "$LOG" && grep -qi 'ipvs' "$LOG"; then
        echo "  ok: the error names the proxy mode"
    else
        note_fail "the output does not name proxy-mode iptables and ipvs: $(grep -v '^[[:space:]]*$' "$LOG" | tail -n 1)"
    fi
    node_clean && echo "  ok: nothing programmed" || note_fail "the node was programmed although the command line was refused"
}

for name in $CASES; do
    case_begin "$name"
    C=$VM_DATA/realconfigs/$name
    EXPECT="" NODE_NAME="" NODE="" API="" API_AUTH="" CREDS="" SERVICE_IP="" HEALTHZ="" HOSTS=""
    OOM_SCORE_ADJ="" CONNTRACK_MAX_PER_CORE="" CONNTRACK_MIN="" TCP_ESTABLISHED="" TCP_CLOSE_WAIT=""
    . "$C/case.env"
    [ "$NODE" = @hostname ] && NODE=$(hostname)
    API_DIR=$VM_DATA/api-$name
    LOG=$VM_DATA/daemon-$name.log
    node_clean || note_fail "the node was not clean before the case"
    conntrack_reset
    install_files "$C"
    api_objects "$API_DIR" "$SERVICE_IP"
    if api_start "$API_DIR"; then
        # The API server refuses a request without the case's credential, so the daemon's
        # programming below proves it presented it.
        _s=$(api_get "$API" /api/v1/services)
        if [ "$API_AUTH" = cert ]; then
            [ -z "$_s" ] && echo "  ok: the API server refuses a client without a certificate" ||
                note_fail "the API server answered a client without a certificate: $_s"
            _s=$(api_get "$API" /api/v1/services "cert=$PKI/client.crt,key=$PKI/client.key")
        else
            case $_s in *" 401 "*) echo "  ok: the API server refuses a request without the token" ;;
                *) note_fail "the API server did not refuse a request without the token: '$_s'" ;; esac
            _s=$(API_PROBE_HEADER="Authorization: Bearer $TOKEN" api_get "$API" /api/v1/services)
        fi
        case $_s in
            *" 200 "*) ;;
            *) note_fail "the API server does not answer the test's own authorized request: '$_s'"
               show "socat client" probe.log; show "socat server" "$API_DIR/socat.log" ;;
        esac
        : >"$API_DIR/requests.log"
        run_argv "$C" "$LOG"
        if [ "$EXPECT" = refuse ]; then check_refuse; else check_program; fi
        stop_daemon
        kill "$API_PID" 2>/dev/null; wait "$API_PID" 2>/dev/null
    fi
    kube-ipvs cleanup >"cleanup-$name.log" 2>&1 || { show "kube-ipvs cleanup" "cleanup-$name.log"; note_fail "kube-ipvs cleanup failed"; }
    while IFS= read -r _f; do rm -f "$_f"; done <installed.txt
    cp hosts.orig /etc/hosts
    case_end
done
cases_done
