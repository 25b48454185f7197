#!/bin/sh
# The guest part of the daemon benchmarks (docs/benchmarks.md, parts (c)-(e)), not a test. One boot
# per size N; the real kube-apiserver on the host (guestfwd 10.0.2.100:6443) holds N Services x 10
# endpoints (daemon-scale.sh made them). Three proxies on the same objects, one after the other,
# each in a fresh network namespace (IPVS, ipsets, iptables and links are per namespace: neither
# sees the other's state nor its deleted IPVS destinations, which the kernel keeps for minutes and
# searches on every add):
#   sync        `kube-ipvs sync -f` of the same objects (services.json, from bench-manifests.py),
#               from an empty node, timed to its exit; then `kube-ipvs cleanup`, timed;
#   kube-ipvs   `kube-ipvs run`;
#   kube-proxy  kube-proxy 1.20 --proxy-mode=ipvs (the binary Tests/apiserver/build.sh built).
# For both daemons, measured the same external way: the cold start from the start until every real
# server of the N Services is in the namespace's /proc/net/ip_vs (polled about every 100 ms, or
# five times one read's time when that is longer; poll_ms is one read's); then K one-endpoint
# changes (kubectl apply on the host, asked for over the control channel 10.0.2.100:7000), each
# from "sent" to the new real server being visible (`ipvsadm -Ln -t VIP` in the namespace: one
# service, cheap at any N); the peak RSS (VmHWM); the CPU (utime + stime, children included,
# from /proc/PID/stat) at cold start done and at the end; then the proxy's own cleanup, timed.
# kube-ipvs also reports its own log figures (first sync, kernel operations and since-change-ms of
# each change). Each wait is bounded; a proxy that did not finish in time is reported so
# (done=no), not failed.
# The daemons reach the API server from their namespace through socat: 10.0.2.100:6443 on the
# namespace's loopback, relayed over a Unix socket to the guest's own 10.0.2.100:6443.
# Prints `BENCH guest-* key=value ...` lines (scripts/bench.sh tabulates them) and, for the old
# tables, `BENCH daemon-*` lines of kube-ipvs run.
# Template: daemon-scale.sh writes a copy with the ports, the size, the limits and the proxies.
# vm: needs-binary timeout=@TIMEOUT@ qemu=-netdev 'user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:6443-cmd:socat - TCP:127.0.0.1:@PORT@,guestfwd=tcp:10.0.2.100:7000-cmd:bash @CONTROL@' -device virtio-net-pci,netdev=n0
. /vm/lib/testlib.sh
N=@SIZE@
K=5
PROXIES="@PROXIES@"          # which of: sync kube-ipvs kube-proxy
IPVS_LIMIT=@IPVS_LIMIT@      # seconds: kube-ipvs's cold start, and the sync -f
PROXY_LIMIT=@PROXY_LIMIT@    # seconds: kube-proxy's cold start
PROXY_CHANGES=@PROXY_CHANGES@  # seconds: kube-proxy's K changes together
CHANGE_LIMIT=120             # seconds: one change of kube-ipvs
COLD_REPEATS=@COLD_REPEATS@  # cold starts of sync -f and kube-ipvs, alternating
RS=$((N * 10))
# Conntrack's limit and timeouts are left as they are, by both daemons: nf_conntrack_max is
# global and not writable from a namespace, and the others are not what is measured.
# (`sync` takes them from a config file only; `run` gets the same file.)
printf 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nconntrack:\n  maxPerCore: 0\n  tcpEstablishedTimeout: 0s\n  tcpCloseWaitTimeout: 0s\n' >ct.yaml
CT="--config $PWD/ct.yaml"
# iproute2's ip: busybox timeout(1) would run its own applet of that name.
IP=$(command -v ip)
user_net_up
uptime_() { cut -d' ' -f1 /proc/uptime; }
ms_() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }
since_ms() { ms_ "$1" "$(uptime_)"; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }  # field KEY: a key=value of a log line
has() { case " $PROXIES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
ctl() { r=$(echo "$*" | timeout 300 nc 10.0.2.100 7000 2>&1); case $r in ok*) return 0 ;; *) note_fail "host step '$*' answered '$r'"; return 1 ;; esac; }
# CPU of a process and its waited-for children (utime stime cutime cstime; USER_HZ is 100).
cpu_ms() { awk '{ printf "%.0f", ($14 + $15 + $16 + $17) * 10 }' "/proc/$1/stat" 2>/dev/null; }
kib() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status" 2>/dev/null; }
# counts NS: "VS RS" in the network namespace NS.
counts() { ip netns exec "$1" awk '/^(TCP|UDP|SCTP) / { v++ } /^  -> [0-9A-F]/ { r++ } END { print v + 0, r + 0 }' /proc/net/ip_vs 2>/dev/null; }
# alive PID: running (a zombie, exited but not yet waited for, counts as gone).
alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
vip() { n=$(($1 + 257)); echo "10.254.$(( (n >> 8) & 255 )).$((n & 255))"; }

# The API server relay: one Unix socket in the guest's namespace, a listener in each proxy's.
# Every relay's output goes to /dev/null and each is killed at the end: a background process
# holding the script's stdout would keep the guest's init waiting for it.
socat UNIX-LISTEN:$PWD/api.sock,fork TCP:10.0.2.100:6443 >/dev/null 2>&1 &
RELAYS=$!
mkns() {  # mkns NAME [relay]: a fresh namespace with lo up (and 10.0.2.100:6443 relayed)
    ip netns add "$1" && ip -n "$1" link set lo up || die "cannot make namespace $1"
    [ "${2:-}" = relay ] || return 0
    ip -n "$1" addr add 10.0.2.100/32 dev lo
    ip netns exec "$1" socat TCP-LISTEN:6443,bind=10.0.2.100,reuseaddr,fork UNIX-CONNECT:$PWD/api.sock >/dev/null 2>&1 &
    RELAYS="$RELAYS $!"
    sleep 0.5
}

# settle: wait (at most 240 s) until the one CPU has been at least 90% idle over 2 s. A cleanup
# leaves the kernel work behind it: the IPVS destinations it deleted wait in the kernel's trash and
# are freed by a timer up to two minutes later, 100k of them at 10k; the next program measured
# must not share the CPU with that. Prints the seconds waited (BENCH guest-settle).
settle() {
    _s0=$(uptime_)
    while :; do
        _a=$(awk '/^cpu / { print $2 + $3 + $4 + $6 + $7 + $8, $5 }' /proc/stat); sleep 2
        _b=$(awk '/^cpu / { print $2 + $3 + $4 + $6 + $7 + $8, $5 }' /proc/stat)
        awk -v a="$_a" -v b="$_b" 'BEGIN { split(a, x, " "); split(b, y, " "); busy = y[1] - x[1]; idle = y[2] - x[2]; exit !(busy + idle > 0 && idle / (busy + idle) >= 0.9) }' && break
        le "$(ms_ "$_s0" "$(uptime_)")" 240000 || break
    done
    echo "BENCH guest-settle after=$1 services=$N waited_ms=$(ms_ "$_s0" "$(uptime_)")"
}

# sampled NS: whether a few Services spread over the N (the first, the last and five between) have
# all their 10 real servers in NS. One `ipvsadm -Ln -t` per Service is cheap at any N, while one
# read of /proc/net/ip_vs walks the kernel's table from its start for every page of output and
# takes seconds at 10k under emulation: polling with it would measure the poll, not the daemon.
sampled() {
    for _k in 0 1 2 3 4 5 6; do
        _s=$(( _k * (N - 1) / 6 ))
        [ "$(ip netns exec "$1" ipvsadm -Ln -t "$(vip $_s):80" 2>/dev/null | grep -c -- '-> .* Masq ')" -ge 10 ] || return 1
    done
}

# wait_all PID NS LIMIT LOG: until NS (PID's namespace) has all RS real servers; prints "VS RS
# POLL_MS DONE COUNT_MS", or TIMEOUT or EXITED. The samples above about every 100 ms (at most a
# fifth of the one CPU), and only once they are complete, the full count. DONE (uptime) is when the
# samples were first complete: the full count after it is a check, and it takes seconds at 10k
# (COUNT_MS), which must not be charged to the program measured. POLL_MS is the mean time of one
# round of samples. A PID that exits (sync -f ends by itself) gets one last round.
wait_all() {
    _w0=$(uptime_); _reads=0; _rt=0; _last=no
    while :; do
        alive "$1" || _last=yes
        _r0=$(uptime_)
        if sampled "$2"; then
            _done=$(uptime_); _c=$(counts "$2"); _cm=$(since_ms "$_done")
            [ "${_c#* }" -ge "$RS" ] 2>/dev/null && break
        fi
        _r1=$(uptime_)
        [ $_last = yes ] && { echo EXITED; return 1; }
        _reads=$((_reads + 1)); _rt=$(awk -v t="$_rt" -v a="$_r0" -v b="$_r1" 'BEGIN { print t + b - a }')
        le "$(ms_ "$_w0" "$(uptime_)")" "$(($3 * 1000))" || { echo TIMEOUT; return 1; }
        # Progress on the console (stderr) about every 30 rounds.
        [ $((_reads % 30)) = 0 ] && echo "  $(ms_ "$_w0" "$(uptime_)") ms: $(tail -n 1 "$4" | cut -c1-160)" >&2
        sleep "$(awk -v a="$_r0" -v b="$_r1" 'BEGIN { d = 4 * (b - a); print (d > 0.1 ? d : 0.1) }')"
    done
    echo "$_c $(awk -v t="$_rt" -v n="$_reads" 'BEGIN { printf "%.0f", (n ? t * 1000 / n : 0) }') $_done $_cm"
}

# changes PID NS NAME PREFIX BUDGET: K one-endpoint changes, each timed from "sent" to the new real
# server visible in NS; BUDGET seconds for all of them (a change that does not show in what is left
# of it ends the series). kube-ipvs's log figures are added when NAME is kube-ipvs.
changes() {
    _pid=$1 _ns=$2 _name=$3 _prefix=$4 _end=$(awk -v a="$(uptime_)" -v b="$5" 'BEGIN { print a + b }')
    _j=1
    while [ $_j -le $K ]; do
        _svc=$(( (_j * 7919) % N )); _ip=$_prefix.$_j.$((_svc % 250 + 1)); _vip=$(vip $_svc)
        _before=$(grep -c "sync applied" daemon.log 2>/dev/null)
        _t0=$(uptime_)
        ctl change "$_svc" "$_ip" || break
        _t1=$(uptime_); _seen=no
        while le "$(uptime_)" "$_end"; do
            alive "$_pid" || break
            ip netns exec "$_ns" ipvsadm -Ln -t "$_vip:80" 2>/dev/null | grep -q -- "-> $_ip:8080 " && { _seen=yes; break; }
            # Every 50 ms for 5 s, then every 500 ms: a long wait (a full resync) keeps its CPU.
            if le "$(ms_ "$_t0" "$(uptime_)")" 5000; then sleep 0.05; else sleep 0.5; fi
        done
        _t2=$(uptime_)
        _extra=""
        if [ "$_name" = kube-ipvs ]; then
            _i=0
            until [ "$(grep -c "sync applied" daemon.log)" -gt "$_before" ]; do
                _i=$((_i + 1)); [ $_i -gt 300 ] && break
                sleep 0.1
            done
            _line=$(grep "sync applied" daemon.log | tail -n 1)
            _extra="ops=$(echo "$_line" | field operations) ops_ipvs=$(echo "$_line" | field ops-ipvs) since_change_ms=$(echo "$_line" | field since-change-ms) elapsed_ms=$(echo "$_line" | field elapsed-ms) recomputed=$(echo "$_line" | field services-recomputed)"
            echo "BENCH daemon-change services=$N change=$_j service=svc-$_svc $_extra"
        fi
        echo "BENCH guest-change proxy=$_name services=$N change=$_j service=svc-$_svc visible=$_seen ext_ms=$(ms_ "$_t0" "$_t2") api_ms=$(ms_ "$_t0" "$_t1") $_extra"
        [ $_seen = yes ] || { echo "  $_name: change $_j not visible within the budget; no further changes"; break; }
        sleep 2
        _j=$((_j + 1))
    done
}

# term PID LIMIT: SIGTERM, wait up to LIMIT seconds, then SIGKILL.
term() {
    kill -TERM "$1" 2>/dev/null
    _i=0; while kill -0 "$1" 2>/dev/null && [ $_i -lt $(($2 * 10)) ]; do sleep 0.1; _i=$((_i + 1)); done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

# run_sync NS: `sync -f` of the N Services in NS, polled as the daemons are (wait_all), so that the
# cold starts compare like with like: the same poll beside it, the same lag. Its exit time and CPU
# come from a shell of its own. Sets t0 t1 rc spoll sdone scount scold; sync.txt, sync.cpu.
run_sync() {
    t0=$(uptime_)
    sh -c 'timeout "$1" "$2" netns exec "$4" $3 -f services.json >sync.txt 2>&1; echo $? >sync.rc
           awk "{ print \$16 + \$17 }" /proc/$$/stat >sync.cpu; cut -d" " -f1 /proc/uptime >sync.end' sh "$IPVS_LIMIT" "$IP" "$SYNC" "$1" &
    _sp=$!; got=$(wait_all $_sp "$1" "$IPVS_LIMIT" sync.txt); wait $_sp
    rc=$(cat sync.rc) t1=$(cat sync.end)
    set -- $got; spoll=${3:-} sdone=${4:-} scount=${5:-}
    scold=""; case $got in TIMEOUT|EXITED) ;; *) scold=$(ms_ "$t0" "$sdone") ;; esac
}

# run_daemon NS LOG: `kube-ipvs run` in NS until its cold start is done (or not). syncPeriod 10m: a
# periodic full resync re-reads the whole kernel, which at 10k Services takes longer than the
# default 30 s under emulation, so a change would mostly wait for one; the changes measured here
# are the daemon's incremental path (kube-proxy gets the same period). Sets DAEMON t0 got vs rs
# poll cold_ms count cpu0 rss0 done first log_ms.
run_daemon() {
    _log=$2
    t0=$(uptime_)
    ip netns exec "$1" kube-ipvs run --kubeconfig kubeconfig --cluster-cidr 10.244.0.0/16 --hostname-override node1 \
        --ipvs-sync-period 10m --iptables-backend legacy $CT --healthz-bind-address 127.0.0.1:10256 --metrics-bind-address 127.0.0.1:10249 >"$2" 2>&1 &
    DAEMON=$!
    got=$(wait_all $DAEMON "$1" "$IPVS_LIMIT" "$2")
    set -- $got; vs=$1 rs=${2:-} poll=${3:-} cold_ms=$(ms_ "$t0" "${4:-$(uptime_)}") count=${5:-}
    cpu0=$(cpu_ms $DAEMON); rss0=$(kib $DAEMON VmRSS)
    done=yes; case $got in TIMEOUT|EXITED) done=no; note_fail "kube-ipvs: not every real server programmed ($got)" ;; esac
    # Its own figures: the first sync's log line (it comes once the sync has ended).
    _i=0
    until grep -q "first sync: applied" "$_log" || [ $_i -gt 600 ]; do sleep 0.1; _i=$((_i + 1)); done
    first=$(grep "first sync: applied" "$_log" | head -n 1)
    log_ms=$(since_ms "$t0")
}

# ------------------------------------------------------------------ sync -f, then cleanup
SYNC="kube-ipvs sync --hostname-override node1 --cluster-cidr 10.244.0.0/16 --iptables-backend legacy $CT --timings"
if has sync; then
    mkns sync
    ip netns add warm; ip netns exec warm $SYNC -f warm.json >warm.txt 2>&1 || show warm-up warm.txt
    run_sync sync
    show "kube-ipvs sync -f of $N Services (exit $rc)" sync.txt
    [ $rc = 0 ] || note_fail "sync -f of $N Services exited $rc"
    # awk reads the file itself: `cat /proc/net/ip_vs | ...` lost a virtual server here (busybox cat).
    c=$(ip netns exec sync awk '/^(TCP|UDP|SCTP) / { v++ } /^  -> [0-9A-F]/ { r++ } END { print v + 0, r + 0 }' /proc/net/ip_vs)
    t2=$(uptime_)
    timeout 600 "$IP" netns exec sync kube-ipvs cleanup --iptables-backend legacy >cleanup-sync.txt 2>&1
    crc=$?; t3=$(uptime_)
    left=$(ip netns exec sync grep -c '^TCP' /proc/net/ip_vs)
    timings=$(sed -n 's/^timings: //p' sync.txt | tr -d ',' | sed 's/ ms//g; s/\([a-z]*\) \([0-9][0-9.]*\)/t_\1=\2/g')
    echo "BENCH guest-cold proxy=sync services=$N repeat=1 cold_ms=$scold own_ms=$(ms_ "$t0" "$t1")"
    echo "BENCH guest-sync services=$N rc=$rc sync_ms=$(ms_ "$t0" "$t1") cold_ms=$scold poll_ms=$spoll count_ms=$scount cpu_ms=$(( $(cat sync.cpu) * 10 )) vs=${c% *} rs=${c#* } cleanup_ms=$(ms_ "$t2" "$t3") cleanup_rc=$crc vs_left=$left $timings"
    settle sync
fi

# ------------------------------------------------------------------ kube-ipvs run
if has kube-ipvs; then
    mkns ipvs relay
    # What starting the binary costs by itself here (no API, no kernel work): part of the cold start.
    _v0=$(uptime_); kube-ipvs run --help >/dev/null 2>&1; echo "BENCH guest-exec services=$N help_ms=$(ms_ "$_v0" "$(uptime_)")"
    run_daemon ipvs daemon.log
    show "kube-ipvs: first sync" daemon.log | head -n 30
    echo "BENCH guest-start proxy=kube-ipvs services=$N done=$done cold_ms=$cold_ms vs=$vs rs=$rs cpu_ms=$cpu0 rss_kib=$rss0 poll_ms=$poll count_ms=$count first_sync_seen_ms=$log_ms first_sync_ops=$(echo "$first" | field operations) first_sync_elapsed_ms=$(echo "$first" | field elapsed-ms) since_start_ms=$(echo "$first" | field since-start-ms)"
    echo "BENCH guest-cold proxy=kube-ipvs services=$N repeat=1 cold_ms=$cold_ms own_ms=$(echo "$first" | field since-start-ms)"
    # Its memory through the first sync: anonymous RSS after each phase, the peak (VmHWM) so far.
    echo "BENCH daemon-phase-memory services=$N $(echo "$first" | tr ' ' '\n' | grep '^kib-' | tr '\n' ' ')"
    echo "BENCH daemon-start services=$N vs=$vs rs=$rs start_to_first_sync_ms=$log_ms first_sync_ops=$(echo "$first" | field operations) first_sync_elapsed_ms=$(echo "$first" | field elapsed-ms) rss_after_start_kib=$rss0"
    if [ $done = yes ]; then
        sleep 3   # the next change should not share a sync with leftovers of the start
        changes $DAEMON ipvs kube-ipvs 10.99 $((K * CHANGE_LIMIT))
        grep "sync applied" daemon.log | tail -n $K | sed 's/^/  /'
    fi
    hwm=$(kib $DAEMON VmHWM); rss=$(kib $DAEMON VmRSS); cpu1=$(cpu_ms $DAEMON)
    term $DAEMON 60
    t2=$(uptime_)
    timeout 600 "$IP" netns exec ipvs kube-ipvs cleanup --iptables-backend legacy >cleanup-ipvs.txt 2>&1
    crc=$?; t3=$(uptime_)
    echo "BENCH daemon-memory services=$N peak_rss_kib=$hwm rss_kib=$rss binary_bytes=$(wc -c </usr/local/bin/kube-ipvs)"
    echo "BENCH guest-end proxy=kube-ipvs services=$N peak_rss_kib=$hwm rss_kib=$rss cpu_start_ms=$cpu0 cpu_end_ms=$cpu1 cleanup_ms=$(ms_ "$t2" "$t3") cleanup_rc=$crc"
    has kube-proxy && settle kube-ipvs
fi

# ------------------------------------------------------------------ more cold starts, alternating
# The host's load changes from minute to minute and one pair of cold starts can land on different
# loads: COLD_REPEATS - 1 more pairs, sync -f then kube-ipvs, each in fresh namespaces, each
# followed by its cleanup and a settle (BENCH guest-cold; bench.sh takes the medians).
if has sync && has kube-ipvs; then
    settle kube-ipvs
    r=2
    while [ $r -le $COLD_REPEATS ]; do
        mkns sync$r
        run_sync sync$r
        echo "BENCH guest-cold proxy=sync services=$N repeat=$r cold_ms=$scold own_ms=$(ms_ "$t0" "$t1") rc=$rc"
        timeout 600 "$IP" netns exec sync$r kube-ipvs cleanup --iptables-backend legacy >/dev/null 2>&1
        settle sync
        mkns ipvs$r relay
        run_daemon ipvs$r daemon-$r.log
        echo "BENCH guest-cold proxy=kube-ipvs services=$N repeat=$r cold_ms=$cold_ms own_ms=$(echo "$first" | field since-start-ms) done=$done peak_kib=$(echo "$first" | field kib-peak)"
        term $DAEMON 60
        timeout 600 "$IP" netns exec ipvs$r kube-ipvs cleanup --iptables-backend legacy >/dev/null 2>&1
        settle kube-ipvs
        r=$((r + 1))
    done
fi

# ------------------------------------------------------------------ kube-proxy 1.20, IPVS mode
if has kube-proxy; then
    KP=$PWD/image-kube-proxy/kube-proxy
    [ -x "$KP" ] || die "no kube-proxy binary from the host hook"
    echo "  $("$KP" --version 2>&1)"
    mkns kproxy relay
    # The same period and conntrack settings as kube-ipvs.
    t0=$(uptime_)
    ip netns exec kproxy "$KP" --kubeconfig="$PWD/kubeconfig" --proxy-mode=ipvs --hostname-override=node1 \
        --cluster-cidr=10.244.0.0/16 --ipvs-sync-period=10m --ipvs-min-sync-period=0s \
        --conntrack-max-per-core=0 --conntrack-tcp-timeout-established=0s --conntrack-tcp-timeout-close-wait=0s \
        --metrics-bind-address=127.0.0.1:10249 --healthz-bind-address=127.0.0.1:10256 --v=2 >kube-proxy.log 2>&1 &
    PROXY=$!
    got=$(wait_all $PROXY kproxy "$PROXY_LIMIT" kube-proxy.log)
    set -- $got; poll=${3:-} cold_ms=$(ms_ "$t0" "${4:-$(uptime_)}") count=${5:-}
    cpu0=$(cpu_ms $PROXY); rss0=$(kib $PROXY VmRSS)
    done=yes; case $got in TIMEOUT|EXITED) done=no ;; esac
    [ "$got" = EXITED ] && note_fail "kube-proxy exited"
    [ $done = yes ] || show "kube-proxy log, the end ($got after $cold_ms ms)" kube-proxy.log | tail -n 30
    c=$(counts kproxy)
    echo "BENCH guest-start proxy=kube-proxy services=$N done=$done cold_ms=$cold_ms vs=${c% *} rs=${c#* } cpu_ms=$cpu0 rss_kib=$rss0 poll_ms=$poll count_ms=$count limit_s=$PROXY_LIMIT"
    if [ $done = yes ]; then
        sleep 3
        changes $PROXY kproxy kube-proxy 10.98 "$PROXY_CHANGES"
    fi
    hwm=$(kib $PROXY VmHWM); rss=$(kib $PROXY VmRSS); cpu1=$(cpu_ms $PROXY)
    m=$(ip netns exec kproxy sh -c 'timeout 20 wget -q -O - http://127.0.0.1:10249/metrics' 2>/dev/null)
    syncs=$(echo "$m" | sed -n 's/^kubeproxy_sync_proxy_rules_duration_seconds_count \(.*\)/\1/p')
    sum=$(echo "$m" | sed -n 's/^kubeproxy_sync_proxy_rules_duration_seconds_sum \(.*\)/\1/p')
    grep -E '^[EW][0-9]{4}' kube-proxy.log | head -n 10 | sed 's/^/  kube-proxy: /'
    term $PROXY 120
    t2=$(uptime_)
    timeout 600 "$IP" netns exec kproxy "$KP" --cleanup --proxy-mode=ipvs >cleanup-kube-proxy.txt 2>&1
    crc=$?; t3=$(uptime_)
    echo "BENCH guest-end proxy=kube-proxy services=$N peak_rss_kib=$hwm rss_kib=$rss cpu_start_ms=$cpu0 cpu_end_ms=$cpu1 cleanup_ms=$(ms_ "$t2" "$t3") cleanup_rc=$crc syncs=${syncs:-?} sync_seconds_sum=${sum:-?}"
fi
kill $RELAYS 2>/dev/null
finish
