#!/usr/bin/env bash
# Run a command in a fresh, throwaway network namespace on the host.
#
# Usage: Tests/netns/run-in-netns.sh CMD [ARG...]
#
# The namespace has only `lo` (up); /sys is remounted in a private mount namespace so that
# /sys/class/net shows the new namespace's links; KUBE_IPVS_NETNS=1 is exported (the Swift
# real-kernel tests skip without it). Everything the command does to links, addresses,
# routes, sysctls under net/, ipsets, iptables (legacy and nft) and conntrack entries dies
# with the namespace: the machine's own network namespace is never touched.
#
# Exit status: the command's; 77 (skip) with a message on stderr when not root or when
# unshare(1) cannot create a network namespace here.
set -uo pipefail

if [ "$(id -u)" != 0 ]; then
    echo "run-in-netns: skipped: needs root to create a network namespace (uid $(id -u))" >&2
    exit 77
fi
if [ $# = 0 ]; then
    echo "usage: $0 CMD [ARG...]" >&2
    exit 2
fi
if ! unshare --net --mount true 2>/dev/null; then
    echo "run-in-netns: skipped: unshare --net --mount is not permitted here" >&2
    exit 77
fi

host_ns=$(readlink /proc/self/ns/net)
export RUN_IN_NETNS_HOST_NS=$host_ns
exec unshare --net --mount --propagation private -- /bin/sh -c '
    # Refuse to run anything if, for any reason, this is still the host namespace.
    if [ "$(readlink /proc/self/ns/net)" = "$RUN_IN_NETNS_HOST_NS" ]; then
        echo "run-in-netns: still in the host network namespace; refusing" >&2
        exit 1
    fi
    unset RUN_IN_NETNS_HOST_NS
    mount -t sysfs sysfs /sys 2>/dev/null || true
    ip link set lo up || { echo "run-in-netns: cannot bring lo up" >&2; exit 1; }
    KUBE_IPVS_NETNS=1
    export KUBE_IPVS_NETNS
    exec "$@"
' run-in-netns "$@"
