# Outside clients and helpers for the traffic tests (4N-*). Source after testlib.sh and pods.sh:
#   (traffic_setup and sync_or_fail, below, are the set-up most of them share)
#   . /vm/lib/traffic.sh
#
#   clients_up [NAME=IP ...]  default: client1=192.168.50.2. Each client is a network namespace
#                             with eth0 IP/24 (a veth whose peer veth-<name> stays in the guest's
#                             root namespace, the node) and a default route via the node's
#                             address 192.168.50.1 (CLIENT_GATEWAY), which sits on the first
#                             client's veth; later clients get a /32 route on their own veth.
#                             So clients reach every Service address through the node, like
#                             hosts outside the cluster. Call it before `kube-ipvs sync`: the
#                             node's addresses (NodePort) are read at sync time.
#   on NAME CMD...            run CMD in client NAME's namespace ("node": the root namespace;
#                             a pod's name works too)
#   http_get NAME URL [SECS]  body of a GET from NAME, empty on error (default 5 s)
#   udp_ask NAME IP PORT      one datagram from NAME (udp_query); prints the reply, empty on none
#   http_times N NAME URL FILE [SECS] / udp_times N NAME IP PORT FILE
#                             N requests; FILE gets the first line of each answer (empty: none)
#   tally FILE                "pod-a=3 pod-b=2 none=1": counts of the first words of FILE's lines
#   slice SERVICE PROTO PORT IP[@NODE]...
#                             YAML of an EndpointSlice for SERVICE (namespace default) whose one
#                             unnamed port is PORT/PROTO, with ready endpoints IP on node NODE
#                             (default node1, this node)
#   kube_sync MANIFEST OUT    kube-ipvs sync -f MANIFEST with the example config as node1, legacy
#                             iptables; output to OUT (and the log); note_fail when it fails
# Checks (note_fail with what was expected and what was found):
#   expect_spread FILE WHAT   every request answered, by both pod-a and pod-b
#   expect_one_pod FILE WHAT  every request answered, all by one pod
#   expect_all FILE VALUE WHAT  every line is VALUE (e.g. the peer address a pod saw)
#   expect_set SET ENTRY / expect_no_set_member SET ENTRY     `ipset list SET` members
#   expect_vs VS RS...        `ipvsadm -Ln` has VS ("TCP  192.168.50.1:30080", as it prints it)
#                             with exactly the real servers RS (ip:port)
#   expect_vs_sched VS WANT   what ipvsadm -Ln prints after VS: "rr", "rr persistent 600"
#   expect_bound IP / expect_not_bound IP                     IP/32 on kube-ipvs0 or not
# Several results per script: case_begin NAME ... case_end (PASS|FAIL $VM_TEST/NAME), then
# cases_done (exit status).
. /vm/lib/testlib.sh
. /vm/lib/pods.sh

CLIENT_GATEWAY=${CLIENT_GATEWAY:-192.168.50.1}
KUBE_IPVS_CONFIG=${KUBE_IPVS_CONFIG:-/vm/examples/kube-proxy-config.yaml}

clients_up() {
    [ $# -gt 0 ] || set -- client1=192.168.50.2
    modprobe veth || { echo "clients_up: modprobe veth failed" >&2; return 1; }
    for spec in "$@"; do
        name=${spec%%=*}
        ip=${spec#*=}
        ip netns add "$name" || return 1
        ip link add "veth-$name" type veth peer name eth0 netns "$name" || return 1
        ip link set "veth-$name" up || return 1
        if ip -4 -o addr show | grep -q " inet $CLIENT_GATEWAY/"; then
            ip route add "$ip/32" dev "veth-$name" src "$CLIENT_GATEWAY" || return 1
        else
            ip addr add "$CLIENT_GATEWAY/24" dev "veth-$name" || return 1
        fi
        ip -n "$name" link set lo up
        ip -n "$name" addr add "$ip/24" dev eth0 || return 1
        ip -n "$name" link set eth0 up || return 1
        ip -n "$name" route add default via "$CLIENT_GATEWAY" || return 1
    done
    for spec in "$@"; do
        name=${spec%%=*}
        i=0
        until ip netns exec "$name" ping -c 1 -W 1 "$CLIENT_GATEWAY" >/dev/null 2>&1; do
            i=$((i + 1))
            if [ $i -ge 10 ]; then echo "clients_up: $name does not reach $CLIENT_GATEWAY" >&2; return 1; fi
            sleep 0.2
        done
    done
}

on() {
    _ns=$1; shift
    if [ "$_ns" = node ]; then "$@"; else ip netns exec "$_ns" "$@"; fi
}

http_get() { on "$1" timeout "${3:-5}" wget -q -O - "$2" 2>/dev/null; }

udp_ask() { if [ "$1" = node ]; then udp_query "$2" "$3"; else udp_query "$2" "$3" "$1"; fi; }

tally() {
    awk '{ w = ($1 == "") ? "none" : $1; n[w]++ } END { for (w in n) printf "%s=%d\n", w, n[w] }' "$1" |
        sort | tr '\n' ' ' | sed 's/ $//'
}

slice() {
    printf -- '---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n'
    printf 'metadata: {name: %s-1, namespace: default, labels: {kubernetes.io/service-name: %s}}\n' "$1" "$1"
    printf 'addressType: IPv4\nports: [{port: %s, protocol: %s}]\nendpoints:\n' "$3" "$2"
    _svc=$1; shift 3
    for _ep in "$@"; do
        _node=node1
        case $_ep in *@*) _node=${_ep#*@}; _ep=${_ep%@*} ;; esac
        printf -- '- {addresses: [%s], conditions: {ready: true}, nodeName: %s}\n' "$_ep" "$_node"
    done
}

# traffic_setup [NAME=IP ...]: the two pods and the clients (default client1) up, or the test dies.
traffic_setup() {
    pods_up || die "pods_up failed"
    clients_up "$@" || die "clients_up failed"
}

# sync_or_fail FILE [OUT]: kube_sync of FILE (output in OUT, default sync.txt), then `ipvsadm -Ln`
# into ipvs-all.txt, shown; a failed sync fails the test and ends it.
sync_or_fail() {
    _out=${2:-sync.txt}
    kube_sync "$1" "$_out" || { vm_fail "kube-ipvs sync failed: $(tail -n 1 "$_out")"; exit 1; }
    ipvsadm -Ln >ipvs-all.txt; show "ipvsadm -Ln" ipvs-all.txt
}

# steady_traffic_start URL MAX SECS: GETs from client1 to URL one after another, in the background,
# until steady_traffic_stop, at most MAX of them and for at most SECS seconds; one line each in
# traffic.txt (the answer, or FAILED).
steady_traffic_start() {
    : >traffic.txt
    rm -f stop-traffic
    (
        _n=0; _end=$(( $(date +%s) + $3 ))
        while [ ! -e stop-traffic ] && [ $_n -lt "$2" ] && [ "$(date +%s)" -lt "$_end" ]; do
            _r=$(http_get client1 "$1" 5 | head -n 1)
            echo "${_r:-FAILED}" >>traffic.txt
            _n=$((_n + 1))
        done
    ) &
    _traffic_pid=$!
}

# steady_traffic_stop: ends it; sets traffic_sent and traffic_failed, and fails the test when a
# request failed or hardly any were sent.
steady_traffic_stop() {
    touch stop-traffic
    wait $_traffic_pid
    traffic_sent=$(wc -l <traffic.txt)
    traffic_failed=$(grep -c '^FAILED$' traffic.txt)
    [ "$traffic_sent" -ge 20 ] || note_fail "only $traffic_sent requests were sent"
    [ "$traffic_failed" = 0 ] || note_fail "$traffic_failed of $traffic_sent requests failed"
}

# vs_count: the node's TCP virtual servers. apply_progress: that plus kube-ipvs0's addresses, a
# number that grows while an apply runs.
vs_count() { ipvsadm -Ln | grep -c '^TCP '; }
apply_progress() { echo $(( $(vs_count) + $(ip -o addr show dev kube-ipvs0 2>/dev/null | wc -l) )); }

kube_sync() {
    kube-ipvs sync -f "$1" --config "$KUBE_IPVS_CONFIG" --hostname-override node1 --iptables-backend legacy >"$2" 2>&1
    _rc=$?
    show "kube-ipvs sync -f $1 (exit $_rc)" "$2"
    [ $_rc = 0 ] || note_fail "kube-ipvs sync -f $1 exited $_rc: $(tail -n 1 "$2")"
    return $_rc
}

expect_set() {
    if ipset list "$1" 2>/dev/null | grep -qxF -- "$2"; then
        echo "  ok: $1 has $2"
    else
        note_fail "ipset $1: expected member $2, found [$(ipset list "$1" 2>&1 | sed -n '/^Members:/,$p' | sed 1d | tr '\n' ' ' | sed 's/ $//')]"
    fi
}

# expect_vs VS RS...: VS as ipvsadm -Ln prints it (e.g. "TCP  192.168.50.1:30080"); its real
# servers must be exactly RS.
expect_vs() {
    _vs=$1; shift
    ipvsadm -Ln >ipvs.txt 2>&1
    _rs=$(awk -v vs="$_vs" '
        /^(TCP|UDP|SCTP) / { cur = ($1 "  " $2 == vs) ; next }
        cur && /->/ && $2 != "RemoteAddress:Port" { print $2 }' ipvs.txt | sort | tr '\n' ' ' | sed 's/ $//')
    _want=$(printf '%s\n' "$@" | sort | tr '\n' ' ' | sed 's/ $//')
    if ! grep -qE "^$_vs( |\$)" ipvs.txt; then
        note_fail "ipvsadm -Ln: no virtual server $_vs"
    elif [ "$_rs" != "$_want" ]; then
        note_fail "ipvsadm -Ln: $_vs has real servers [$_rs], expected [$_want]"
    else
        echo "  ok: IPVS $_vs -> $_want"
    fi
}

# Several cases in one script, each its own result line "PASS|FAIL $VM_TEST/<case>":
#   case_begin NAME; ...checks with note_fail...; case_end     and at the end: cases_done
case_begin() { _case=$1; _vm_failures=""; echo "  == case $1"; }
case_end() {
    if [ -z "$_vm_failures" ]; then vm_pass "$VM_TEST/$_case"
    else vm_fail "$_vm_failures" "$VM_TEST/$_case"; _cases_failed=1; fi
    _vm_failures=""
}
cases_done() { [ -z "${_cases_failed:-}" ] && exit 0; exit 1; }

# http_times N CLIENT URL FILE [SECS]: N GETs; FILE gets the first line of each answer (an empty
# line for no answer).
http_times() {
    : >"$4"
    _i=0
    while [ $_i -lt "$1" ]; do
        _r=$(http_get "$2" "$3" "${5:-5}" | head -n 1)
        echo "$_r" >>"$4"
        _i=$((_i + 1))
    done
    echo "  $1 x GET $3 from $2: $(tally "$4")"
}

# udp_times N CLIENT IP PORT FILE: N datagrams, one reply line (or an empty line) each in FILE.
udp_times() {
    : >"$5"
    _i=0
    while [ $_i -lt "$1" ]; do
        _r=$(udp_ask "$2" "$3" "$4")
        echo "$_r" >>"$5"
        _i=$((_i + 1))
    done
    echo "  $1 x UDP $3:$4 from $2: $(tally "$5") ($(sort "$5" | uniq | tr '\n' ',' | sed 's/,$//'))"
}

# expect_spread FILE WHAT: every request was answered, by pod-a and pod-b both.
expect_spread() {
    _t=$(tally "$1")
    case " $_t " in
        *" none="*) note_fail "$2: expected every request answered by pod-a or pod-b, found $_t" ;;
        *" pod-a="*" pod-b="*) echo "  ok: $2: $_t" ;;
        *) note_fail "$2: expected answers from both pod-a and pod-b, found $_t" ;;
    esac
}

# expect_all FILE VALUE WHAT: every line of FILE is VALUE.
expect_all() {
    _n=$(wc -l <"$1")
    if [ "$_n" -gt 0 ] && [ "$(grep -cxF -- "$2" "$1")" = "$_n" ]; then
        echo "  ok: $3: $2 x $_n"
    else
        note_fail "$3: expected $2 for all $_n, found $(sort "$1" | uniq -c | awk '{ printf "%s%s x %s", (NR > 1 ? ", " : ""), ($2 == "" ? "no answer" : $2), $1 }')"
    fi
}

# expect_one_pod FILE WHAT: every request was answered, all by the same pod.
expect_one_pod() {
    _t=$(tally "$1")
    case "$_t" in
        *none=*|*" "*|"") note_fail "$2: expected every request answered by one and the same pod, found $_t" ;;
        pod-*) echo "  ok: $2: $_t" ;;
        *) note_fail "$2: expected pod names, found $_t" ;;
    esac
}

# expect_bound ADDRESS / expect_not_bound ADDRESS: on kube-ipvs0 (as ADDRESS/32) or not.
expect_bound() {
    if ip -4 -o addr show dev kube-ipvs0 2>/dev/null | grep -q " inet $1/32 "; then echo "  ok: $1 bound on kube-ipvs0"
    else note_fail "kube-ipvs0: expected $1/32, found [$(ip -4 -o addr show dev kube-ipvs0 2>&1 | awk '{print $4}' | tr '\n' ' ' | sed 's/ $//')]"; fi
}
expect_not_bound() {
    if ip -4 -o addr show dev kube-ipvs0 2>/dev/null | grep -q " inet $1/"; then note_fail "kube-ipvs0: $1 is bound there, expected it only on its own link"
    else echo "  ok: $1 not on kube-ipvs0"; fi
}

# expect_no_set_member SET ENTRY
expect_no_set_member() {
    if ipset list "$1" 2>/dev/null | grep -qxF -- "$2"; then note_fail "ipset $1: has $2, expected not"
    else echo "  ok: $1 has no $2"; fi
}

# expect_vs_sched VS WANT: the scheduler and flags ipvsadm -Ln prints after VS are WANT
# (e.g. "rr persistent 600", or "rr").
expect_vs_sched() {
    _got=$(ipvsadm -Ln 2>/dev/null | awk -v vs="$1" '$1 "  " $2 == vs { $1 = ""; $2 = ""; sub(/^ +/, ""); sub(/ +$/, ""); print; exit }')
    if [ "$_got" = "$2" ]; then echo "  ok: $1 $2"
    else note_fail "ipvsadm -Ln: $1: expected '$2', found '${_got:-no such virtual server}'"; fi
}
