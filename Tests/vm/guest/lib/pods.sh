# Traffic fixture: "pods" in network namespaces on the node's pod subnet 10.244.1.0/24.
# Source with: . /vm/lib/pods.sh
#
#   pods_up [NAME=IP ...]   default: pod-a=10.244.1.2 pod-b=10.244.1.3 (the seed's pods)
#   pods_down
#
# Layout: bridge kbr0 10.244.1.1/24 in the guest's root namespace; each pod is a network
# namespace with eth0 (a veth whose peer veth-<name> is a port of kbr0, hairpin on), lo up, a default
# route via 10.244.1.1, and busybox httpd on :${POD_PORT:-8080} whose / answers "<name>".
# Any pod also answers /name (same body), /healthz ("ok") and /cgi-bin/peer (a CGI printing
# the client address the pod sees, $REMOTE_ADDR without an IPv4-mapped prefix).
#
#   pods_udp_up [PORT]      in every pod: a UDP server on PORT (default 5353, socat) answering
#                           each datagram with one line "<name> <peer-address>"
#   udp_query HOST PORT [NETNS]  one datagram to HOST:PORT; prints the reply line (or nothing)
#   pods_bridge_netfilter   load br_netfilter (bridge-nf-call-iptables=1), for pod-to-pod
#                           traffic through a Service VIP

POD_BRIDGE=${POD_BRIDGE:-kbr0}
POD_GATEWAY=${POD_GATEWAY:-10.244.1.1}
POD_PORT=${POD_PORT:-8080}

pods_up() {
    [ $# -gt 0 ] || set -- pod-a=10.244.1.2 pod-b=10.244.1.3
    modprobe bridge && modprobe veth || { echo "pods_up: modprobe bridge/veth failed" >&2; return 1; }
    if ! ip link show "$POD_BRIDGE" >/dev/null 2>&1; then
        ip link add "$POD_BRIDGE" type bridge || return 1
        ip addr add "$POD_GATEWAY/24" dev "$POD_BRIDGE" || return 1
        ip link set "$POD_BRIDGE" up || return 1
    fi
    for spec in "$@"; do
        name=${spec%%=*}
        ip=${spec#*=}
        ip netns add "$name" || return 1
        ip link add "veth-$name" type veth peer name eth0 netns "$name" || return 1
        ip link set "veth-$name" master "$POD_BRIDGE" up || return 1
        # As the CNI bridge plugin's hairpinMode: with br_netfilter loaded, a pod reaching itself
        # through a Service VIP gets the un-NATed reply bridged back out of its own port.
        ip link set dev "veth-$name" type bridge_slave hairpin on || return 1
        ip -n "$name" link set lo up
        ip -n "$name" addr add "$ip/24" dev eth0 || return 1
        ip -n "$name" link set eth0 up || return 1
        ip -n "$name" route add default via "$POD_GATEWAY" || return 1
        mkdir -p "/srv/$name"
        echo "$name" >"/srv/$name/index.html"
        echo "$name" >"/srv/$name/name"
        echo ok >"/srv/$name/healthz"
        mkdir -p "/srv/$name/cgi-bin"
        # busybox httpd sets REMOTE_ADDR=[::ffff:192.168.50.2] (its socket is IPv6).
        cat >"/srv/$name/cgi-bin/peer" <<'CGI'
#!/bin/sh
a=${REMOTE_ADDR#\[}; a=${a%]}; a=${a#::ffff:}
printf 'Content-Type: text/plain\r\n\r\n%s\n' "$a"
CGI
        chmod 755 "/srv/$name/cgi-bin/peer"
        ip netns exec "$name" httpd -p "$POD_PORT" -h "/srv/$name" || return 1
    done
    # Wait until every pod answers directly (not through any Service).
    for spec in "$@"; do
        name=${spec%%=*}
        ip=${spec#*=}
        i=0
        until [ "$(timeout 2 wget -q -O - "http://$ip:$POD_PORT/name" 2>/dev/null)" = "$name" ]; do
            i=$((i + 1))
            if [ $i -ge 30 ]; then
                echo "pods_up: $name ($ip:$POD_PORT) does not answer" >&2
                return 1
            fi
            sleep 0.2
        done
    done
}

pods_udp_up() {
    _port=${1:-5353}
    for _ns in $(ip netns list 2>/dev/null | cut -d' ' -f1); do
        case $_ns in pod-*) ;; *) continue ;; esac
        # One forked child per datagram; its stdout is the reply, sent from PORT to the peer.
        ip netns exec "$_ns" socat "UDP4-RECVFROM:$_port,reuseaddr,fork" \
            SYSTEM:"echo $_ns \$SOCAT_PEERADDR" </dev/null >/dev/null 2>&1 &
    done
    # Wait until every pod's server answers directly.
    for _ns in $(ip netns list 2>/dev/null | cut -d' ' -f1); do
        case $_ns in pod-*) ;; *) continue ;; esac
        _ip=$(ip -n "$_ns" -4 -o addr show dev eth0 | sed -n 's/.* inet \([0-9.]*\)\/.*/\1/p')
        _i=0
        until udp_query "$_ip" "$_port" | grep -q "^$_ns "; do
            _i=$((_i + 1))
            if [ $_i -ge 20 ]; then echo "pods_udp_up: $_ns ($_ip:$_port/udp) does not answer" >&2; return 1; fi
            sleep 0.2
        done
    done
}

# pods_bridge_netfilter: br_netfilter with bridge-nf-call-iptables=1, as on kubeadm nodes. Needed
# when a pod reaches another pod on kbr0 through a Service VIP: without it the backend's reply
# is bridged straight to the client pod, never un-NATed. (It stays loaded for the rest of the
# boot; kube-ipvs's physdev rules for externalIPs load it too.)
pods_bridge_netfilter() {
    modprobe br_netfilter && sysctl -qw net.bridge.bridge-nf-call-iptables=1
}

# udp_query HOST PORT [NETNS]: send one datagram (from NETNS, default the root namespace) and
# print the first line of the reply, nothing when none comes within 5 s. The socket is
# connected: a reply from any other address or port than HOST:PORT is not accepted.
udp_query() {
    rm -f /tmp/udp-reply.$$
    ${3:+ip netns exec "$3"} timeout 5 socat -t 0.2 "UDP4:$1:$2" \
        SYSTEM:"echo query; read -r r; echo \"\$r\" >/tmp/udp-reply.$$" 2>/dev/null
    cat /tmp/udp-reply.$$ 2>/dev/null
    rm -f /tmp/udp-reply.$$
}

pods_down() {
    for ns in $(ip netns list 2>/dev/null | cut -d' ' -f1); do
        case $ns in pod-*) ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
                           ip netns del "$ns" ;; esac
    done
    ip link del "$POD_BRIDGE" 2>/dev/null
    return 0
}
