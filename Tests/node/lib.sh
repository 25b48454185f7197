# Helpers of Tests/node/run.sh (sourced): results, the control plane, the guests, the channel.
apicache=${KUBE_IPVS_APISERVER_CACHE:-$repo/.cache/apiserver}
nodecache=${KUBE_IPVS_NODE_CACHE:-$repo/.cache/node}
export KUBE_IPVS_APISERVER_CACHE=$apicache KUBE_IPVS_NODE_CACHE=$nodecache
mkdir -p "$nodecache/runs"
state=$(mktemp -d "$nodecache/runs/$(date +%Y%m%d-%H%M%S).XXXX")
npass=0 nfail=0 nskip=0
qemu_pids=() host_pids=()

note() { echo "node: $*"; }
pass() { npass=$((npass + 1)); echo "PASS $1: $2"; }
fail() { nfail=$((nfail + 1)); echo "FAIL $1: $2"; }
skip() { nskip=$((nskip + 1)); echo "SKIP $1: $2"; }
figures() { echo "FIGURES $*"; }

teardown() {
    local p
    for p in "${qemu_pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${host_pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${qemu_pids[@]}" "${host_pids[@]}"; do
        for _ in $(seq 1 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.25; done
        kill -9 "$p" 2>/dev/null
    done
    qemu_pids=() host_pids=()
    [ -d "$state/api" ] && KUBE_IPVS_APISERVER_STATE=$state/api KUBE_IPVS_APISERVER_KEEP=1 bash "$repo/Tests/apiserver/stop.sh" >/dev/null 2>&1
}
finish() {
    # KUBE_IPVS_NODE_HOLD=SECONDS: keep everything running that long for a look (debugging).
    [ -n "${KUBE_IPVS_NODE_HOLD:-}" ] && { note "holding for $KUBE_IPVS_NODE_HOLD s: . $state/api/env; channel 127.0.0.1:${chan_port[1]:-}"; sleep "$KUBE_IPVS_NODE_HOLD"; }
    teardown
    note "run directory (consoles, logs): ${state#"$repo"/}"
    echo "node tier: total $(( $(date +%s) - t_start )) s"
    echo "node: $npass passed, $nfail failed, $nskip skipped"
    [ "$keep" = 1 ] || [ "$nfail" -gt 0 ] || rm -rf "$state"
    [ "$nfail" = 0 ]; exit $?
}
trap 'teardown; exit 130' INT TERM
trap teardown EXIT
skip_or_fail() { # RC WHAT
    if [ "$1" = 77 ]; then skip node "cannot build $2 here"; else fail node "building $2 failed"; fi
    finish
}

k() { "$KUBECTL" --kubeconfig "$KUBE_IPVS_KUBECONFIG" --request-timeout=30s "$@"; }
wait_for() { # SECONDS COMMAND...: poll every 0.5 s
    local end=$(( $(date +%s) + $1 )); shift
    while [ "$(date +%s)" -lt "$end" ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
    return 1
}
free_port() { local p=$1; while ss -Hltn "( sport = :$p )" | grep -q .; do p=$((p + 1)); done; echo "$p"; }

# etcd + kube-apiserver (Tests/apiserver/start.sh in a state directory of this run), then the
# controller manager (Deployments, ReplicaSets, DaemonSets, EndpointSlices, service-account
# tokens) and the scheduler, as admin, serving nothing.
control_plane_up() {
    local t0 kcm_port sch_port
    t0=$(date +%s)
    # start.sh picks a free port; another API server may take it before it binds: try again.
    local try ok=0
    for try in 1 2 3; do
        if KUBE_IPVS_APISERVER_STATE=$state/api bash "$repo/Tests/apiserver/start.sh" >"$state/apiserver-start.log" 2>&1; then ok=1; break; fi
        grep -q 'address already in use' "$state/apiserver-start.log" || break
        rm -rf "$state/api"; sleep $((try * 3))
    done
    if [ "$ok" = 0 ]; then
        fail control-plane "Tests/apiserver/start.sh failed: $(tail -n 3 "$state/apiserver-start.log" | tr '\n' ' ')"; return 1
    fi
    # shellcheck disable=SC1091
    . "$state/api/env"
    setsid "$KUBE_CONTROLLER_MANAGER_BIN" --kubeconfig="$KUBE_IPVS_KUBECONFIG" \
        --bind-address=127.0.0.1 --port=0 --secure-port=0 --leader-elect=false \
        --service-account-private-key-file="$state/api/pki/sa.key" --root-ca-file="$state/api/ca.crt" \
        --use-service-account-credentials=false --service-cluster-ip-range=10.254.0.0/16 \
        --node-monitor-grace-period=120s --concurrent-endpoint-syncs=5 \
        </dev/null >"$state/kube-controller-manager.log" 2>&1 &
    host_pids+=($!)
    setsid "$KUBE_SCHEDULER_BIN" --kubeconfig="$KUBE_IPVS_KUBECONFIG" \
        --bind-address=127.0.0.1 --port=0 --secure-port=0 --leader-elect=false \
        </dev/null >"$state/kube-scheduler.log" 2>&1 &
    host_pids+=($!)
    # Ready: the token controller has made the default ServiceAccount's token.
    if ! wait_for 120 sa_token_ready; then
        fail control-plane "no service-account token in 120 s (controller manager log: $(tail -n 2 "$state/kube-controller-manager.log" | tr '\n' ' '))"; return 1
    fi
    local p
    for p in "${host_pids[@]}"; do
        kill -0 "$p" 2>/dev/null || { fail control-plane "a control-plane process exited: $(tail -n 3 "$state"/kube-*.log | tr '\n' ' ')"; return 1; }
    done
    pass control-plane "etcd, kube-apiserver $KUBE_IPVS_APISERVER_URL, kube-controller-manager, kube-scheduler up in $(( $(date +%s) - t0 )) s"
}
sa_token_ready() { [ -n "$(k -n default get serviceaccount default -o jsonpath='{.secrets[0].name}')" ]; }

# boot_node N: QEMU guest nodeN. eth0: QEMU's user network (API server via guestfwd, the channel
# via hostfwd to 127.0.0.1:chan_port[N]); eth1 (two nodes): a socket netdev between the guests.
declare -A chan_port
boot_node() {
    local n=$1 root initrd port netdev lan=()
    root=$state/node$n.root
    mkdir -p "$root/vm"
    port=$(free_port $((17770 + 10 * n)))
    chan_port[$n]=$port
    {
        echo "NODE_NAME=node$n"
        echo "NODE_IP=10.0.2.15"
        echo "NODE_POD_CIDR=10.244.$n.0/24"
        echo "KUBE_IPVS_TAG=$tag KUBE_IPVS_TAG2=$tag2"
        if [ "$nodes" = 2 ]; then
            echo "NODE_LAN_IP=192.168.100.1$n"
            local other=$((3 - n))
            echo "NODE_ROUTES='10.244.$other.0/24@192.168.100.1$other'"
        fi
    } >"$root/vm/node.env"
    cp "$KUBE_IPVS_GUEST_KUBECONFIG" "$root/vm/kubeconfig"
    initrd=$state/node$n.initrd
    cp "$base" "$initrd"
    truncate -s %512 "$initrd"
    cat "$node_cpio" >>"$initrd"
    truncate -s %512 "$initrd"
    (cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >>"$initrd"
    netdev="$KUBE_IPVS_QEMU_NETDEV,hostfwd=tcp:127.0.0.1:$port-:7777"
    if [ "$nodes" = 2 ]; then
        [ -n "${lan_port:-}" ] || lan_port=$(free_port 17800)
        if [ "$n" = 1 ]; then lan=(-netdev "socket,id=n1,listen=127.0.0.1:$lan_port")
        else lan=(-netdev "socket,id=n1,connect=127.0.0.1:$lan_port"); fi
        lan+=(-device "virtio-net-pci,netdev=n1,mac=52:54:00:00:01:0$n")
    fi
    qemu-system-x86_64 -accel tcg -cpu max -m "${KUBE_IPVS_NODE_MEM:-3072}" -smp 1 \
        -kernel "$kernel" -initrd "$initrd" \
        -append "console=ttyS0 quiet loglevel=3 panic=-1 apparmor=0" \
        -display none -monitor none -serial "file:$state/node$n.console" -no-reboot \
        -netdev "$netdev" -device virtio-net-pci,netdev=n0 "${lan[@]}" \
        </dev/null >"$state/node$n.qemu.log" 2>&1 &
    qemu_pids+=($!)
    rm -f "$initrd.keep"
    sleep 1
    kill -0 "${qemu_pids[-1]}" 2>/dev/null || { fail "node$n/boot" "QEMU exited: $(tail -n 3 "$state/node$n.qemu.log")"; return 1; }
}

# gsh N SCRIPT [TIMEOUT]: run SCRIPT with the guest's /bin/sh through the channel; prints its output.
gsh() {
    printf '%s\n' "$2" | timeout "${3:-120}" socat -t "${3:-120}" - "TCP:127.0.0.1:${chan_port[$1]}" 2>/dev/null
}
# The channel answers once the guest's network is up; the node is booted once the kubelet started
# (containerd up, the images imported: the console's "NODE: KUBELET" marker).
wait_channel() { wait_for "$2" sh -c "printf 'test -f /run/kubelet.pid && echo up\n' | timeout 5 socat -t 5 - TCP:127.0.0.1:${chan_port[$1]} 2>/dev/null | grep -qx up"; }
node_ready() { [ "$(k get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
node_logs() { # N: the last lines of the guest's logs into the run directory
    gsh "$1" 'for f in /var/log/*.log; do echo "=== $f"; tail -n 60 "$f"; done' 60 >"$state/node$1.guest-logs.txt" 2>&1
    note "guest logs of node$1: ${state#"$repo"/}/node$1.guest-logs.txt"
}
