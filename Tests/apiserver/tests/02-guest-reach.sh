#!/usr/bin/env bash
# The QEMU guest reaches this API server through guestfwd 10.0.2.100:6443 -> the host's
# 127.0.0.1:PORT (Tests/apiserver/vm/guest-reach.sh, run by Tests/vm/run.sh in a boot of its
# own; no kube-ipvs binary needed). Skipped when the guest tier cannot run here.
set -uo pipefail
: "${KUBE_IPVS_APISERVER_STATE:?run me through Tests/apiserver/run.sh}"
cd "${REPO:-.}"
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 missing (scripts/install-deps.sh)"; exit 77; }
command -v socat >/dev/null || { echo "socat missing (scripts/install-deps.sh)"; exit 77; }
[ -x Tests/vm/run.sh ] || [ -f Tests/vm/run.sh ] || { echo "no Tests/vm/run.sh"; exit 77; }
# A copy named like a guest test, with the real host port in its qemu= line.
d=$KUBE_IPVS_APISERVER_STATE/vm
mkdir -p "$d"
sed "s/@PORT@/$KUBE_IPVS_APISERVER_PORT/" Tests/apiserver/vm/guest-reach.sh >"$d/50-apiserver-guest-reach.sh"
cp Tests/apiserver/vm/guest-reach.host.sh "$d/50-apiserver-guest-reach.host.sh"
out=$(bash Tests/vm/run.sh "$d/50-apiserver-guest-reach.sh" 2>&1)
rc=$?
printf '%s\n' "$out"
kubectl_cleanup() { "$KUBECTL" delete -f examples/web-service.yaml --ignore-not-found >/dev/null 2>&1; }
kubectl_cleanup
last=$(printf '%s\n' "$out" | grep -E '^vm: [0-9]+ passed' | tail -n 1)
case $last in
    "vm: 1 passed, 0 failed, 0 skipped") exit 0 ;;
    "vm: 0 passed, 0 failed, 1 skipped") echo "$(printf '%s\n' "$out" | grep -E '^ *SKIP ' | tail -n 1 | sed 's/^ *//')"; exit 77 ;;
    *) echo "guest run: ${last:-no summary line} (exit $rc)"; exit 1 ;;
esac
