#!/usr/bin/env bash
# Runs inside a fresh namespace (Tests/netns/run-in-netns.sh). Checks that this host's
# kernel offers what the ipset and iptables backends use, so that a skipped or failing
# Swift NetNS test can be told apart from a missing kernel feature: every ipset type of the
# KUBE-* sets, and the seed's KUBE-* rules (set, comment, mark, conntrack, addrtype matches;
# MARK, MASQUERADE, REJECT targets) in both iptables flavours.
set -u
fails=0
check() { # WHAT CMD...
    local what=$1; shift
    if out=$("$@" 2>&1); then echo "ok: $what"; else echo "FAILED: $what: $out"; fails=$((fails + 1)); fi
}

[ "${KUBE_IPVS_NETNS:-}" = 1 ] || { echo "not inside run-in-netns.sh; refusing to touch this namespace"; exit 1; }
[ "$(ip -o link show | wc -l)" = 1 ] || { echo "expected a namespace with only lo"; exit 1; }

check "ipset hash:ip,port"     ipset create KUBE-CLUSTER-IP hash:ip,port comment
check "ipset add ip,tcp:port"  ipset add KUBE-CLUSTER-IP 10.254.10.128,tcp:80 comment web-service
check "ipset hash:ip,port,ip"  ipset create KUBE-LOOP-BACK hash:ip,port,ip
check "ipset hash:ip,port,net" ipset create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net
check "ipset hash:ip"          ipset create KUBE-IPVS-IPS hash:ip
check "ipset bitmap:port"      ipset create KUBE-NODE-PORT-TCP bitmap:port range 0-65535
check "ipset list"             sh -c 'ipset list KUBE-CLUSTER-IP | grep -q "^10.254.10.128,tcp:80"'

rules() {
cat <<'EOF'
*nat
:KUBE-SERVICES - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODE-PORT - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-SERVICES ! -s 10.244.0.0/16 -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ
-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT
-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
COMMIT
*filter
:KUBE-FORWARD - [0:0]
:KUBE-IPVS-FILTER - [0:0]
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-IPVS-FILTER -m set --match-set KUBE-CLUSTER-IP dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT
COMMIT
EOF
}
for flavour in legacy nft; do
    if ! command -v "iptables-$flavour-restore" >/dev/null; then
        echo "FAILED: iptables-$flavour-restore not installed"; fails=$((fails + 1)); continue
    fi
    check "iptables-$flavour-restore --noflush" sh -c "$(declare -f rules); rules | iptables-$flavour-restore --noflush"
    check "iptables-$flavour-save shows the rules" sh -c \
        "iptables-$flavour-save | grep -q -- '--match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ'"
done

[ $fails = 0 ] || { echo "$fails check(s) failed"; exit 1; }
