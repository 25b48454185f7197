#!/usr/bin/env bash
# The real-apiserver tier: builds kube-apiserver if needed (build.sh), starts etcd and the API
# server on loopback in a fresh state directory (start.sh), runs Tests/apiserver/tests/NN-*.sh
# against it, stops it (stop.sh).
#
#   Tests/apiserver/run.sh [-v] [--keep] [NAME...]     NAME: a test's file name without .sh
#
#   -v      print every test's output, not only that of failed tests
#   --keep  leave the API server running afterwards (stop it with the stop.sh line printed)
#
# A test is a bash script run with the repository as working directory and the variables of
# $STATE/env exported (KUBECONFIG too, set to the admin kubeconfig; KUBECTL is Debian's kubectl
# 1.20.2, the API server's own version). Exit 0 = pass, 77 = skip (reason on the last output
# line), anything else = fail.
# Last line: "apiserver: N passed, N failed, N skipped"; exit 1 on any failure. Not root, or no
# way to build the API server: everything is skipped, with the reason.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
verbose=0 keep=0 only=()
for a in "$@"; do
    case $a in
        -v) verbose=1 ;;
        --keep) keep=1 ;;
        -*) echo "usage: $0 [-v] [--keep] [NAME...]" >&2; exit 2 ;;
        *) only+=("${a%.sh}") ;;
    esac
done

tests=()
for f in "$here"/tests/[0-9]*.sh; do
    [ -f "$f" ] || continue
    n=$(basename "$f" .sh)
    if [ ${#only[@]} -gt 0 ]; then
        m=0; for o in "${only[@]}"; do [ "$o" = "$n" ] && m=1; done
        [ "$m" = 1 ] || continue
    fi
    tests+=("$f")
done
[ ${#only[@]} -gt 0 ] && [ ${#tests[@]} = 0 ] && { echo "apiserver: no test named ${only[*]}" >&2; exit 2; }

RESULTS_TIER=apiserver
. "$here/../lib/results.sh"
skip_all() {
    echo "apiserver: skipped: $1"
    for f in "${tests[@]}"; do result SKIP "$(basename "$f" .sh)" "$1"; done
    summary
}

[ "$(id -u)" = 0 ] || skip_all "not root (building the API server installs Debian packages; run as root)"

# Build (or find the cached build).
tb=$(date +%s)
out=$(bash "$here/build.sh" 2>&1)
rc=$?
case $rc in
    0) echo "apiserver: build: $(printf '%s\n' "$out" | tail -n 1 | sed 's/^apiserver-build: //')"
       [ $(( $(date +%s) - tb )) -gt 10 ] && echo "apiserver: build took $(( $(date +%s) - tb )) s" ;;
    77) skip_all "$(printf '%s\n' "$out" | tail -n 1)" ;;
    *) printf '%s\n' "$out" | tail -n 40
       result FAIL build "kube-apiserver build failed (exit $rc; see above)"
       for f in "${tests[@]}"; do result SKIP "$(basename "$f" .sh)" "no API server"; done
       summary ;;
esac

# Start a private instance; 6443 if free, else another port.
state=$(mktemp -d /tmp/kube-ipvs-apiserver-run.XXXXXX)
export KUBE_IPVS_APISERVER_STATE=$state
ts=$(date +%s.%N)
if ! out=$(bash "$here/start.sh" 2>&1); then
    printf '%s\n' "$out" | tail -n 60
    result FAIL start "etcd/kube-apiserver did not come up (logs above; state in $state)"
    for f in "${tests[@]}"; do result SKIP "$(basename "$f" .sh)" "no API server"; done
    summary
fi
[ "$verbose" = 1 ] && printf '%s\n' "$out"
startup="started in $(awk -v a="$ts" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s: $(printf '%s\n' "$out" | grep 'ready in' | sed 's/^apiserver-start: //')"
cleanup() {
    if [ "$keep" = 1 ]; then
        echo "apiserver: still running (--keep): . $state/env; stop with: KUBE_IPVS_APISERVER_STATE=$state bash Tests/apiserver/stop.sh"
    else
        bash "$here/stop.sh" 2>/dev/null
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

set -a
# shellcheck disable=SC1091
. "$state/env"
KUBECONFIG=$KUBE_IPVS_KUBECONFIG
REPO=$repo
set +a
echo "apiserver: $KUBE_IPVS_APISERVER_URL $startup"

mkdir -p "$state/logs"
for f in "${tests[@]}"; do
    n=$(basename "$f" .sh)
    lg=$state/logs/test-$n.log
    t1=$(date +%s)
    # A test may ask for more than 600 s with a line "# apiserver: timeout=SECONDS" near its top.
    tmo=$(head -n 30 "$f" | sed -n 's/^# apiserver:.*\btimeout=\([0-9][0-9]*\).*/\1/p' | head -n 1)
    tmo=${tmo:-600}
    timeout "$tmo" bash "$f" >"$lg" 2>&1
    rc=$?
    dt=$(( $(date +%s) - t1 ))
    case $rc in
        0) result PASS "$n (${dt} s)"; [ "$verbose" = 1 ] && sed 's/^/      /' "$lg" ;;
        77) result SKIP "$n" "$(tail -n 1 "$lg")" ;;
        *) [ "$rc" = 124 ] && echo "      (timed out after $tmo s)"
           sed 's/^/      /' "$lg" | tail -n 80
           result FAIL "$n" "exit $rc after ${dt} s" ;;
    esac
done
summary
