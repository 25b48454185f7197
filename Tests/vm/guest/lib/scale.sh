# Setup shared by the IPVS scale tests (23-ipvs-scale, 24-ipvsadm-scale); source after testlib.sh.
# Sets N and M (services x real servers, from the host hook's $VM_DATA/scale, default 2000 10),
# loads the IPVS modules, defines probe/now/ms, and writes the generated rules to rules.txt.
probe() { LD_LIBRARY_PATH=$VM_DATA/lib "$VM_DATA/kernel-probe" "$@"; }
set -- $(cat "$VM_DATA/scale" 2>/dev/null || echo 2000 10)
N=$1 M=$2
for m in ip_vs ip_vs_rr nf_conntrack; do modprobe $m || die "modprobe $m"; done
now() { cut -d' ' -f1 /proc/uptime; }
ms() { awk "BEGIN { print ($2 - $1) * 1000 }"; }

probe gen "$N" "$M" >rules.txt || die "gen"
lines=$(wc -l <rules.txt)
echo "  $N services x $M real servers: $lines rules"
