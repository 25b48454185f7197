#!/bin/sh
# The IPVS backend (Sources/Kernel/IPVS/IPVSBackend.swift, generic netlink) against the guest kernel,
# with ipvsadm as the referee: batched adds of TCP/UDP/SCTP, IPv4/IPv6, persistent and
# scheduler-flag services; idempotent re-apply (EEXIST -> edit); edits of missing objects become
# adds; deletes of missing objects are no-ops; real errors are typed (errno, command, object);
# services made by others are observed but never touched; timeouts; targeted destination reads.
# Finally prints the raw kernel replies as FIXTURE lines (Tests/KernelTests/Fixtures/README.md).
# vm: timeout=400
. /vm/lib/testlib.sh
probe() { LD_LIBRARY_PATH=$VM_DATA/lib "$VM_DATA/kernel-probe" "$@"; }

for m in ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh ip_vs_mh nf_conntrack; do modprobe $m || die "modprobe $m"; done

probe info >info.txt 2>&1; show info info.txt
expect_match info.txt '^IPVS family=[0-9]+ version=1\.2\.1 conn_tab_size=[0-9]+$' "IPVS family resolved"

# Services made by someone else: never touched by anything below.
ipvsadm -A -f 7 -s rr && ipvsadm -A -t 192.168.77.1:443 -s lc && ipvsadm -a -t 192.168.77.1:443 -r 192.168.77.2:443 -g -w 5 \
    || die "ipvsadm foreign services"

cat >rules.txt <<'R'
-A -t 10.254.10.128:80 -s rr
-a -t 10.254.10.128:80 -r 10.244.1.2:8080 -m -w 1
-a -t 10.254.10.128:80 -r 10.244.1.3:8080 -m -w 1
-A -u [fd00::10]:53 -s wrr -p 10800
-a -u [fd00::10]:53 -r [fd00:244::5]:5353 -m -w 3
-A --sctp-service 10.254.0.3:9000 -s mh -b mh-fallback,mh-port
-a --sctp-service 10.254.0.3:9000 -r 10.244.2.9:9000 -m -w 0
-A -t 10.254.0.4:8443 -s sh -b sh-port
R
probe restore rules.txt >r1.txt 2>&1; show "first apply" r1.txt
expect_line r1.txt "APPLIED 8 requests=8 toUpdate=0 toAdd=0 absent=0" "8 requests in one pipelined batch"

ipvsadm -Sn | sort >kernel.txt; show "ipvsadm -Sn" kernel.txt
while read -r line; do
    expect_line kernel.txt "$line" "kernel has: $line"
done <rules.txt
probe list >list.txt 2>&1; show "kernel-probe list" list.txt
# What the probe observes equals what ipvsadm prints, the foreign TCP service included
# (the fwmark service is not representable and is skipped).
grep -v -- '-f 7' kernel.txt >kernel-nofwmark.txt
if sort list.txt | cmp -s - kernel-nofwmark.txt; then echo "  ok: observe == ipvsadm -Sn"; else
    note_fail "observe differs from ipvsadm -Sn"; sort list.txt | diff kernel-nofwmark.txt - ; fi

# Re-applying the same adds: every add meets EEXIST and becomes an edit; state unchanged.
probe restore rules.txt >r2.txt 2>&1; show "second apply" r2.txt
expect_line r2.txt "APPLIED 8 requests=16 toUpdate=8 toAdd=0 absent=0" "re-apply is idempotent (EEXIST -> edit)"
ipvsadm -Sn | sort | cmp -s - kernel.txt && echo "  ok: unchanged after re-apply" || note_fail "state changed after re-apply"

# An add that finds a different service edits it to the requested form.
echo "-A -t 10.254.10.128:80 -s wrr" | probe restore >r3.txt 2>&1
ipvsadm -Sn >k3.txt
expect_line k3.txt "-A -t 10.254.10.128:80 -s wrr" "add of an existing service with a new scheduler edits it"

# Edits, and an edit of a missing destination (ENOENT -> add), a delete of missing ones (no-op).
cat >edits.txt <<'R'
-E -t 10.254.10.128:80 -s rr -p 300
-e -t 10.254.10.128:80 -r 10.244.1.3:8080 -m -w 0
-e -t 10.254.10.128:80 -r 10.244.1.4:8080 -m -w 1
-E -t 10.254.0.99:80 -s rr
-d -t 10.254.10.128:80 -r 10.244.1.99:8080
-D -t 10.254.0.98:80
-d -t 10.254.0.97:80 -r 10.244.1.2:8080
R
probe restore edits.txt >r4.txt 2>&1; show edits r4.txt
expect_line r4.txt "APPLIED 4 requests=9 toUpdate=0 toAdd=2 absent=3" "edit-of-missing -> add, delete-of-missing -> no-op"
ipvsadm -Sn >k4.txt
expect_line k4.txt "-A -t 10.254.10.128:80 -s rr -p 300" "persistence set"
expect_line k4.txt "-a -t 10.254.10.128:80 -r 10.244.1.3:8080 -m -w 0" "weight 0 (graceful termination)"
expect_line k4.txt "-a -t 10.254.10.128:80 -r 10.244.1.4:8080 -m -w 1" "missing destination added by an edit"
expect_line k4.txt "-A -t 10.254.0.99:80 -s rr" "missing service added by an edit"

# Real errors: typed, per request, and the rest of the batch still applied.
cat >bad.txt <<'R'
-a -t 10.254.0.200:80 -r 10.244.1.2:8080 -m -w 1
-A -t 10.254.0.201:80 -s nosuchsched
-A -t 10.254.0.202:80 -s rr
R
probe restore bad.txt >r5.txt 2>&1; show errors r5.txt
expect_match r5.txt '^BATCH-ERROR 2 failed; applied 1$' "two typed failures, the good request applied"
expect_match r5.txt '^ERROR errno=ESRCH op=IPVS_CMD_NEW_DEST object=10\.254\.0\.200:80/TCP -> 10\.244\.1\.2:8080 weight 1' "missing service: ESRCH names the command and object"
expect_match r5.txt '^ERROR errno=ENOENT op=IPVS_CMD_NEW_SERVICE object=10\.254\.0\.201:80/TCP scheduler nosuchsched' "unknown scheduler: ENOENT"
ipvsadm -Sn >k5.txt
expect_line k5.txt "-A -t 10.254.0.202:80 -s rr" "the valid request of the failed batch applied"

# Deletes.
printf '%s\n' "-d -t 10.254.10.128:80 -r 10.244.1.4:8080" "-D -t 10.254.0.99:80" "-D -t 10.254.0.202:80" | probe restore >r6.txt 2>&1
expect_line r6.txt "APPLIED 3 requests=3 toUpdate=0 toAdd=0 absent=0" "deletes"
ipvsadm -Sn >k6.txt
grep -q "10.244.1.4:8080" k6.txt && note_fail "destination not deleted" || echo "  ok: destination deleted"
grep -q "10.254.0.99:80" k6.txt && note_fail "service not deleted" || echo "  ok: service deleted"

# Foreign services untouched.
expect_line k6.txt "-A -f 7 -s rr" "fwmark service untouched"
expect_line k6.txt "-a -t 192.168.77.1:443 -r 192.168.77.2:443 -g -w 5" "foreign service untouched"

# Targeted read: one service's destinations with counters.
probe dests 10.254.10.128:80/tcp >d.txt 2>&1; show dests d.txt
expect_line d.txt "DEST 10.244.1.2:8080 weight=1 fwd=masquerade active=0 inactive=0" "targeted destination read"
expect_line d.txt "DEST 10.244.1.3:8080 weight=0 fwd=masquerade active=0 inactive=0" "targeted read sees weight 0"
probe dests 10.254.0.250:80/tcp >d2.txt 2>&1
expect_line d2.txt "SERVICE 10.254.0.250:80/TCP absent" "targeted read of a missing service"
expect_line d.txt "SERVICE 10.254.10.128:80/TCP scheduler=rr flags=1 timeout=300" "targeted service read (GET_SERVICE, no dump)"

# Timeouts.
probe timeouts 900 120 300 >t.txt 2>&1; show timeouts t.txt
expect_line t.txt "TIMEOUTS 900 120 300" "timeouts set and read back"
ipvsadm -L --timeout >t2.txt
expect_match t2.txt "Timeout \(tcp tcpfin udp\): 900 120 300" "ipvsadm sees the timeouts"
probe timeouts 0 0 60 >t3.txt 2>&1
expect_line t3.txt "TIMEOUTS 900 120 60" "0 leaves a timeout alone"

# Raw replies for the unit-test fixtures.
probe capture >capture.txt 2>&1
expect_match capture.txt "^EEXIST-PROBE errno=17" "EEXIST probe"
grep '^FIXTURE ' capture.txt | cut -c1-200
grep '^FIXTURE ' capture.txt | sed 's/^/CAPTURE-LINE /'
finish
