#!/usr/bin/env bash
# Live migration on one node (issue 15, item 7): kube-proxy 1.20 in IPVS mode, built from the same
# Debian source as this API server, programs the QEMU guest; with requests running through the
# Service it is replaced by kube-ipvs started with kube-proxy's own command line and config file,
# then the reverse. The steps and checks are in Tests/apiserver/vm/migration.sh; this script makes
# the Services `migrate-web` (ClusterIP 10.254.20.20, NodePort 30080) and `migrate-extra`
# (10.254.20.21, 30081; deleted under kube-ipvs through the control channel vm/migration-control.sh),
# their EndpointSlices (discovery.k8s.io/v1beta1, what both proxies read on 1.20) and Endpoints, and the Node `node1`,
# writes the guest test with the real port, runs it through
# Tests/vm/run.sh and prints the figures:
#   07-migration: figure: <what>: <numbers>
# (docs/migration.md, "Measured swap", has the last run's.) 4-6 min under TCG on 2 busy cores.
# apiserver: timeout=1500
set -uo pipefail
: "${KUBE_IPVS_APISERVER_STATE:?run me through Tests/apiserver/run.sh}"
cd "${REPO:-.}"
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 missing (scripts/install-deps.sh)"; exit 77; }
command -v socat >/dev/null || { echo "socat missing (scripts/install-deps.sh)"; exit 77; }
STATE=$KUBE_IPVS_APISERVER_STATE
. "$STATE/env"
[ -x "${KUBE_PROXY_BIN:-}" ] || { echo "no kube-proxy binary (${KUBE_PROXY_BIN:-KUBE_PROXY_BIN unset}; Tests/apiserver/build.sh builds it)"; exit 77; }
D=$STATE/migration
rm -rf "$D"; mkdir -p "$D"
log() { echo "07-migration: $*"; }

cat >"$D/objects.yaml" <<'EOF'
apiVersion: v1
kind: Service
metadata: {name: migrate-web, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.254.20.20
  selector: {app: migrate-web}
  ports:
  - {name: http, port: 80, protocol: TCP, targetPort: 8080, nodePort: 30080}
---
apiVersion: v1
kind: Endpoints
metadata: {name: migrate-web, namespace: default}
subsets:
- addresses: [{ip: 10.244.1.2, nodeName: node1}, {ip: 10.244.1.3, nodeName: node1}]
  ports: [{name: http, port: 8080, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1beta1
kind: EndpointSlice
metadata:
  name: migrate-web-1
  namespace: default
  labels: {kubernetes.io/service-name: migrate-web}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- {addresses: [10.244.1.2], conditions: {ready: true}, topology: {kubernetes.io/hostname: node1}}
- {addresses: [10.244.1.3], conditions: {ready: true}, topology: {kubernetes.io/hostname: node1}}
---
apiVersion: v1
kind: Service
metadata: {name: migrate-extra, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.254.20.21
  selector: {app: migrate-web}
  ports:
  - {name: http, port: 80, protocol: TCP, targetPort: 8080, nodePort: 30081}
---
apiVersion: v1
kind: Endpoints
metadata: {name: migrate-extra, namespace: default}
subsets:
- addresses: [{ip: 10.244.1.2, nodeName: node1}]
  ports: [{name: http, port: 8080, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1beta1
kind: EndpointSlice
metadata:
  name: migrate-extra-1
  namespace: default
  labels: {kubernetes.io/service-name: migrate-extra}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- {addresses: [10.244.1.2], conditions: {ready: true}, topology: {kubernetes.io/hostname: node1}}
---
apiVersion: v1
kind: Node
metadata:
  name: node1
  labels: {kubernetes.io/hostname: node1}
spec:
  podCIDR: 10.244.1.0/24
  podCIDRs: [10.244.1.0/24]
EOF
"$KUBECTL" apply -f "$D/objects.yaml" >"$D/apply.log" 2>&1 || { cat "$D/apply.log"; echo "could not create the Service, its endpoints and the Node"; exit 1; }

sed "s#@D@#$D#; s#@STATE@#$STATE#" Tests/apiserver/vm/migration-control.sh >"$D/control.sh"
sed "s#@PORT@#$KUBE_IPVS_APISERVER_PORT#; s#@CONTROL@#$D/control.sh#" Tests/apiserver/vm/migration.sh >"$D/70-migration.sh"
cp Tests/apiserver/vm/migration.host.sh "$D/70-migration.host.sh"

# Two large binaries (kube-ipvs, kube-proxy) live in the guest's RAM disk: more memory.
t0=$(date +%s)
out=$(KUBE_IPVS_VM_MEM=${KUBE_IPVS_VM_MEM:-1536} bash Tests/vm/run.sh --keep "$D/70-migration.sh" 2>&1)
rc=$?
printf '%s\n' "$out"
rundir=$(printf '%s\n' "$out" | sed -n 's/.*run directory (initrd, console logs): //p' | tail -n 1)
if [ -n "$rundir" ] && [ -f "$rundir/boot-1.log" ]; then
    echo "--- the guest's log"
    sed -n '/^KUBE-IPVS-VM: BEGIN 70-migration$/,/^KUBE-IPVS-VM: END 70-migration /p' "$rundir/boot-1.log"
    echo "--- control channel log"; cat "$D/control.log" 2>/dev/null
    echo "--- the guest's figures"
    grep -E '^  figure: ' "$rundir/boot-1.log" | sed 's/^  /07-migration: /'
    log "figure: guest run (boot, set-up, both swaps): $(( $(date +%s) - t0 )) s; host load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
    grep -q '^PASS 70-migration' "$rundir/boot-1.log" && rm -rf "$rundir"
fi
"$KUBECTL" delete -f "$D/objects.yaml" --ignore-not-found >/dev/null 2>&1
last=$(printf '%s\n' "$out" | grep -E '^vm: [0-9]+ passed' | tail -n 1)
case $last in
    "vm: 1 passed, 0 failed, 0 skipped") exit 0 ;;
    "vm: 0 passed, 0 failed, 1 skipped") echo "$(printf '%s\n' "$out" | grep -E '^ *SKIP ' | tail -n 1 | sed 's/^ *//')"; exit 77 ;;
    *) echo "guest run: ${last:-no summary line} (exit $rc)"; exit 1 ;;
esac
