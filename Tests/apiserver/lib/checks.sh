# Shared by the real-apiserver tests (Tests/apiserver/tests/*.sh), sourced after `cd "$REPO"`:
#   k ARGS...              kubectl as admin ($KUBECONFIG from $STATE/env), 30 s per request
#   ok / bad TEXT          one check's line; bad counts a failure
#   expect NAME WANT FOUND ok when FOUND is WANT, else bad naming both
#   checks_done            exit 1 when a check failed (prints how many)
#   host_kube_ipvs         sets $bin to the host's kube-ipvs (absolute path; $KUBE_IPVS_BIN, else
#                          the debug build, built when missing)
k() { "$KUBECTL" --request-timeout=30s "$@"; }
nfail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; nfail=$((nfail + 1)); }
expect() { # NAME EXPECTED FOUND
    if [ "$2" = "$3" ]; then ok "$1: $3"; else bad "$1: expected '$2', found '$3'"; fi
}
checks_done() { [ "$nfail" = 0 ] || { echo "$nfail check(s) failed"; exit 1; }; }
host_kube_ipvs() {
    bin=${KUBE_IPVS_BIN:-${KUBE_IPVS_SCRATCH:-.build}/debug/kube-ipvs}
    [ -x "$bin" ] || swift build --scratch-path "${KUBE_IPVS_SCRATCH:-.build}" --product kube-ipvs >/dev/null || { echo "build failed"; exit 1; }
    bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
}
