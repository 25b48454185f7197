#!/usr/bin/env bash
# `kube-ipvs run` in the QEMU guest against this API server (issue 5's acceptance; the checks are
# listed in Tests/apiserver/vm/daemon-e2e.sh). This script prepares what the guest test needs:
#   - a second kube-apiserver on the same etcd (another port, not reachable from the guest), used
#     to make a change while the guest's API server is stopped;
#   - the guest's API server's command line, so the control channel can start it again as it was;
#   - the seed's objects plus a Node `node1`, and copies of the guest test, its host hook and the
#     control script with the real ports and paths;
# then runs the guest test through Tests/vm/run.sh and stops the second API server.
set -uo pipefail
: "${KUBE_IPVS_APISERVER_STATE:?run me through Tests/apiserver/run.sh}"
cd "${REPO:-.}"
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 missing (scripts/install-deps.sh)"; exit 77; }
command -v socat >/dev/null || { echo "socat missing (scripts/install-deps.sh)"; exit 77; }
STATE=$KUBE_IPVS_APISERVER_STATE
. "$STATE/env"
D=$STATE/daemon-e2e
rm -rf "$D"; mkdir -p "$D"
log() { echo "03-daemon-e2e: $*"; }

# The guest's API server's command line (NUL-separated), for apiserver-start.
cp "/proc/$KUBE_IPVS_APISERVER_PID/cmdline" "$D/apiserver.cmdline" || { echo "cannot read the API server's command line"; exit 1; }

# A second API server on the same etcd: same arguments, another port, no endpoint reconciler (so
# the `kubernetes` Endpoints keep pointing at the first).
port2=$((KUBE_IPVS_APISERVER_PORT + 1))
while (exec 3<>"/dev/tcp/127.0.0.1/$port2") 2>/dev/null; do port2=$((port2 + 1)); done
mapfile -d '' args <"$D/apiserver.cmdline"
args2=()
for a in "${args[@]}"; do
    case $a in --secure-port=*) args2+=("--secure-port=$port2") ;; *) args2+=("$a") ;; esac
done
args2+=("--endpoint-reconciler-type=none")
(cd "$STATE" && exec setsid "${args2[@]}" </dev/null >"$D/apiserver2.log" 2>&1) &
pid2=$!
stop2() { kill -TERM "$pid2" 2>/dev/null; for _ in $(seq 1 40); do kill -0 "$pid2" 2>/dev/null || break; sleep 0.25; done; kill -KILL "$pid2" 2>/dev/null; }
trap stop2 EXIT
sed "s#https://127.0.0.1:$KUBE_IPVS_APISERVER_PORT#https://127.0.0.1:$port2#" "$KUBE_IPVS_KUBECONFIG" >"$D/kubeconfig-second"
ready=0
for _ in $(seq 1 240); do
    if "$KUBECTL" --kubeconfig "$D/kubeconfig-second" get --raw /readyz >/dev/null 2>&1; then ready=1; break; fi
    kill -0 "$pid2" 2>/dev/null || break
    sleep 0.5
done
[ "$ready" = 1 ] || { tail -n 20 "$D/apiserver2.log"; echo "the second API server did not come up"; exit 1; }
log "second API server on port $port2 (pid $pid2)"

# The seed (Service + Endpoints) and this node's Node object.
{ cat examples/web-service.yaml; printf -- '---\napiVersion: v1\nkind: Node\nmetadata:\n  name: node1\n  labels: {topology.kubernetes.io/zone: zone-a}\nspec:\n  podCIDR: 10.244.1.0/24\n  podCIDRs: [10.244.1.0/24]\n'; } >"$D/seed.yaml"

# Copies named like guest tests, with the real port and paths.
sed "s#@D@#$D#; s#@STATE@#$STATE#" Tests/apiserver/vm/daemon-control.sh >"$D/control.sh"
sed "s#@PORT@#$KUBE_IPVS_APISERVER_PORT#; s#@CONTROL@#$D/control.sh#" Tests/apiserver/vm/daemon-e2e.sh >"$D/60-daemon-e2e.sh"
cp Tests/apiserver/vm/daemon-e2e.host.sh "$D/60-daemon-e2e.host.sh"

out=$(bash Tests/vm/run.sh --keep "$D/60-daemon-e2e.sh" 2>&1)
rc=$?
printf '%s\n' "$out"
# The guest's measurements (its console is kept by --keep; removed here when the test passed).
rundir=$(printf '%s\n' "$out" | sed -n 's/.*run directory (initrd, console logs): //p' | tail -n 1)
if [ -n "$rundir" ] && [ -f "$rundir/boot-1.log" ]; then
    echo "--- the guest's measurements"
    grep -E '^  (ok|host): |^  API server stopped|^  [0-9]+ requests: ' "$rundir/boot-1.log"
    grep -q '^PASS 60-daemon-e2e' "$rundir/boot-1.log" && rm -rf "$rundir"
fi
echo "--- control channel log"; cat "$D/control.log" 2>/dev/null
"$KUBECTL" delete -f "$D/seed.yaml" --ignore-not-found >/dev/null 2>&1
last=$(printf '%s\n' "$out" | grep -E '^vm: [0-9]+ passed' | tail -n 1)
case $last in
    "vm: 1 passed, 0 failed, 0 skipped") exit 0 ;;
    "vm: 0 passed, 0 failed, 1 skipped") echo "$(printf '%s\n' "$out" | grep -E '^ *SKIP ' | tail -n 1 | sed 's/^ *//')"; exit 77 ;;
    *) echo "guest run: ${last:-no summary line} (exit $rc)"; exit 1 ;;
esac
