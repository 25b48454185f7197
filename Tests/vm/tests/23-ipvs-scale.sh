#!/bin/sh
# IPVS at scale (issue 4 benchmark), kube-ipvs side: N services x M masqueraded real servers
# (default 2000 x 10; the issue benchmark is KUBE_IPVS_VM_SCALE="10000 10") from one `ipvsadm -R` text, applied by the pipelined IPVSBackend.apply
# (`kernel-probe restore`) on a fresh kernel; then a full observe, a targeted read, one endpoint
# change and the delete of everything. 24-ipvsadm-scale.sh times `ipvsadm --restore` of the same
# text on its own fresh boot. Why separate boots: deleted destinations wait up to two minutes in
# the kernel's IPVS dest trash, and every later add walks that whole list (ip_vs_trash_get_dest),
# so whichever tool ran second would be slowed by the first one's leftovers.
# Times are printed as `TIME <what> <ms> ms`; compare them only as ratios between boots of the
# same guest (TCG emulation is 10-50x slower than hardware).
# KUBE_IPVS_VM_SCALE="N M" in the host environment overrides the size (the host hook passes it).
# vm: timeout=1500 fresh-boot
. /vm/lib/testlib.sh
. /vm/lib/scale.sh

t0=$(now); probe restore rules.txt >r.txt 2>&1; t1=$(now)
show "kernel-probe restore" r.txt
echo "TIME probe-restore-process $(ms $t0 $t1) ms"
expect_line r.txt "APPLIED $lines requests=$lines toUpdate=0 toAdd=0 absent=0" "pipelined apply of $lines operations"
t0=$(now); ipvsadm -Sn >dump.txt; t1=$(now)
echo "TIME ipvsadm-save $(ms $t0 $t1) ms"
sort dump.txt >a.txt; sort rules.txt >b.txt
cmp -s a.txt b.txt && echo "  ok: kernel state == the rules (ipvsadm -Sn)" || note_fail "kernel state differs from the rules"

probe observe >o.txt 2>&1; show observe o.txt
expect_line o.txt "OBSERVED $N virtual servers, $((N * M)) real servers" "full observe"

# Re-applying everything: every add meets EEXIST and is retried as an edit (the idempotence path).
probe restore rules.txt >r2.txt 2>&1; show "re-apply" r2.txt
expect_line r2.txt "APPLIED $lines requests=$((2 * lines)) toUpdate=$lines toAdd=0 absent=0" "idempotent re-apply"

# One endpoint change: one request. TIME measured inside the process (no exec cost).
echo "-a -t 10.96.0.0:80 -r 10.200.0.1:8080 -m -w 1" | probe restore >one.txt 2>&1; show "one endpoint added" one.txt
expect_line one.txt "APPLIED 1 requests=1 toUpdate=0 toAdd=0 absent=0" "one endpoint = one kernel request"
echo "-e -t 10.96.0.0:80 -r 10.200.0.1:8080 -m -w 0" | probe restore >one-w0.txt 2>&1; show "one endpoint weight 0" one-w0.txt
echo "-d -t 10.96.0.0:80 -r 10.200.0.1:8080" | probe restore >one-del.txt 2>&1; show "one endpoint removed" one-del.txt
probe latency 10.96.0.1:80 10.200.0.2:8080 20 >lat.txt 2>&1; show "one endpoint, warm socket" lat.txt
expect_match lat.txt "^LATENCY one-op applies=40 " "warm single-endpoint latency measured"
t0=$(now); ipvsadm -a -t 10.96.0.0:80 -r 10.200.0.1:8080 -m -w 1; t1=$(now)
echo "TIME ipvsadm-one-endpoint-process $(ms $t0 $t1) ms"

# Everything deleted in one batch (a virtual server delete takes its real servers along).
awk '/^-A/ { print "-D", $2, $3 }' rules.txt >delete.txt
probe restore delete.txt >d.txt 2>&1; show "delete all" d.txt
[ "$(ipvsadm -Sn | wc -l)" = 0 ] && echo "  ok: all deleted" || note_fail "services left after delete"
finish
