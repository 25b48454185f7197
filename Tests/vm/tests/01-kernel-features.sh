#!/bin/sh
# The guest kernel has what the daemon and the other guest tests rely on: IPVS and its
# schedulers, dummy links, every ipset type the daemon creates, the iptables matches and
# targets of the KUBE-* rules (legacy and nft flavours), veth and bridge for the pods.
# vm: timeout=240
. /vm/lib/testlib.sh

for m in ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh ip_vs_lc ip_vs_wlc ip_vs_mh nf_conntrack \
         dummy veth bridge ip_set ip_set_hash_ipport ip_set_hash_ipportip ip_set_hash_ipportnet \
         ip_set_hash_ip ip_set_hash_net ip_set_bitmap_port xt_set xt_comment xt_mark \
         xt_conntrack xt_addrtype xt_physdev xt_ipvs xt_MASQUERADE ipt_REJECT iptable_nat \
         iptable_filter ip6table_nat ip6table_filter nf_tables nft_compat; do
    modprobe "$m" 2>err.txt && echo "  ok: modprobe $m" || note_fail "modprobe $m: $(cat err.txt)"
done

ip link add kip-probe type dummy && echo "  ok: dummy link" || note_fail "ip link add type dummy"
ip link del kip-probe 2>/dev/null

ipvsadm -A -t 10.0.0.1:80 -s mh -b flag-1,flag-2 && ipvsadm -a -t 10.0.0.1:80 -r 10.0.0.2:80 -m -w 1 &&
    ipvsadm -Sn | grep -q -- '-r 10.0.0.2:80 -m -w 1' && echo "  ok: ipvsadm" || note_fail "ipvsadm add/list"
ipvsadm -C

sysctl -w net.ipv4.vs.conntrack=1 >/dev/null && echo "  ok: sysctl net.ipv4.vs.conntrack" ||
    note_fail "sysctl -w net.ipv4.vs.conntrack=1"

ipset create KIP-T hash:ip,port && ipset add KIP-T 10.254.10.128,tcp:80 &&
    ipset create KIP-B bitmap:port range 0-65535 && ipset add KIP-B 30080 &&
    ipset create KIP-N hash:ip,port,net && ipset add KIP-N 10.254.0.1,tcp:80,10.0.0.0/8 &&
    echo "  ok: ipset types" || note_fail "ipset create/add"

for flavour in legacy nft; do
    iptables-$flavour-restore --noflush <<'EOF' 2>err.txt && echo "  ok: iptables-$flavour-restore" ||
*nat
:KIP-MARK-MASQ - [0:0]
:KIP-SERVICES - [0:0]
:KIP-POSTROUTING - [0:0]
-A KIP-MARK-MASQ -j MARK --or-mark 0x4000
-A KIP-SERVICES ! -s 10.244.0.0/16 -m comment --comment "probe" -m set --match-set KIP-T dst,dst -j KIP-MARK-MASQ
-A KIP-SERVICES -m addrtype --dst-type LOCAL -j RETURN
-A KIP-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KIP-POSTROUTING -j MARK --xor-mark 0x4000
-A KIP-POSTROUTING -j MASQUERADE --random-fully
COMMIT
*filter
:KIP-FORWARD - [0:0]
:KIP-IPVS-FILTER - [0:0]
-A KIP-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KIP-FORWARD -m physdev ! --physdev-is-in -j RETURN
-A KIP-IPVS-FILTER -m ipvs --vaddr 10.254.10.128/32 --vproto tcp --vport 80 -j DROP
-A KIP-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KIP-T dst,dst -j REJECT
COMMIT
EOF
        note_fail "iptables-$flavour-restore: $(cat err.txt)"
done

finish
