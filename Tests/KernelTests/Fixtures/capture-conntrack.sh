#!/bin/sh
# Regenerates conntrack-dump-ipv4.hex and conntrack-dump-ipv6.hex: IPCTNL_MSG_CT_GET dumps of entries
# made with the conntrack tool, as `kernel-probe capture conntrack` receives them (one datagram per
# line, hex). Run as root from the repository root after building kernel-probe
# (KUBE_IPVS_SCRATCH, default .build); everything happens in a throwaway network namespace.
# The entries' ids (CTA_ID) and use counts differ on every run; ConntrackMessagesTests does not
# compare them.
set -eu
here=Tests/KernelTests/Fixtures
probe=${KUBE_IPVS_SCRATCH:-.build}/debug/kernel-probe
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/capture.sh" <<'SH'
set -e
ci() { conntrack -I "$@" --timeout 600 >/dev/null 2>&1; }
# NATed UDP (client -> 10.254.0.10:53 translated to 10.244.1.5:5353).
ci -p udp -s 10.0.0.1 -d 10.254.0.10 --sport 40000 --dport 53 -r 10.244.1.5 -q 10.0.0.1 --reply-port-src 5353 --reply-port-dst 40000
# UDP to the Service address, never translated (sent while the Service had no backend).
ci -p udp -s 10.0.0.2 -d 10.254.0.10 --sport 40001 --dport 53 -r 10.254.0.10 -q 10.0.0.2 --reply-port-src 53 --reply-port-dst 40001
# NATed TCP to the same backend.
ci -p tcp -s 10.0.0.1 -d 10.254.0.10 --sport 40002 --dport 53 -r 10.244.1.5 -q 10.0.0.1 --reply-port-src 5353 --reply-port-dst 40002 --state ESTABLISHED
# ICMP echo (no ports).
ci -p icmp -s 10.0.0.3 -d 10.254.0.10 -r 10.254.0.10 -q 10.0.0.3 --icmp-type 8 --icmp-code 0 --icmp-id 77
# NATed UDP in conntrack zone 7.
ci -p udp -s 10.0.0.4 -d 10.254.0.10 --sport 40003 --dport 53 -r 10.244.1.6 -q 10.0.0.4 --reply-port-src 5353 --reply-port-dst 40003 --zone 7
# NATed UDP over IPv6.
ci -p udp -s fd00::1 -d fd00::10 --sport 40000 --dport 53 -r fd00:244::5 -q fd00::1 --reply-port-src 5353 --reply-port-dst 40000
"$1" capture conntrack
SH
bash Tests/netns/run-in-netns.sh sh "$tmp/capture.sh" "$probe" > "$tmp/out"
for f in ipv4 ipv6; do
    name=IPv4 af=AF_INET; [ $f = ipv6 ] && name=IPv6 af=AF_INET6
    {
        echo "# IPCTNL_MSG_CT_GET dump (NLM_F_DUMP, $af) of the entries made by capture-conntrack.sh"
        echo "# captured: host network namespace, Linux $(uname -r), \`kernel-probe capture conntrack\`, one received datagram per line"
        awk -v n="conntrack-dump-$name" '$1 == "FIXTURE" && $2 == n { print $4 }' "$tmp/out"
    } > "$here/conntrack-dump-$f.hex"
done
grep '^ENTRY' "$tmp/out"
