#!/bin/sh
# The baseline of 23-ipvs-scale.sh: `ipvsadm --restore` of the same N x M rules on a fresh boot,
# and `ipvsadm -Sn` of the result. Compare the TIME lines of the two tests.
# vm: timeout=1500 fresh-boot
. /vm/lib/testlib.sh
. /vm/lib/scale.sh
t0=$(now); ipvsadm -R <rules.txt || note_fail "ipvsadm -R"; t1=$(now)
echo "TIME ipvsadm-restore $(ms $t0 $t1) ms"
t0=$(now); ipvsadm -Sn >dump.txt; t1=$(now)
echo "TIME ipvsadm-save $(ms $t0 $t1) ms"
sort dump.txt >a.txt; sort rules.txt >b.txt
cmp -s a.txt b.txt && echo "  ok: kernel state == the rules" || note_fail "kernel state differs from the rules"
t0=$(now); ipvsadm -a -t 10.96.0.0:80 -r 10.200.0.1:8080 -m -w 1; t1=$(now)
echo "TIME ipvsadm-one-endpoint-process $(ms $t0 $t1) ms"
finish
