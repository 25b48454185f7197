#!/bin/sh
# kube-ipvs-prepare-node: the DaemonSet's init container (privileged, runs once per pod start).
# Loads the kernel modules and sets the sysctls that `kube-ipvs run` would otherwise load and set
# at its first sync, so that the long-running container needs no write access to /proc/sys:
# a non-privileged container sees /proc/sys read-only (the container runtime mounts it so), and
# neither securityContext.sysctls (net.* is refused for hostNetwork pods) nor a bind mount under
# /proc (runc refuses it) can open it. The daemon reads these values back and, finding them as
# it wants them, plans no write.
#
# The list is not written here twice: it is the `modprobe` and `sysctl -w` lines of the daemon's
# own plan for an empty node (`kube-ipvs sync --dry-run` with no manifests and the same
# configuration), so it follows the configuration (strictARP, an IPv6 clusterCIDR) and the binary.
#
#   kube-ipvs-prepare-node --config /etc/kube-ipvs/config.yaml [kube-proxy flags...]
#
# Environment (for tests): KUBE_IPVS (the binary), MODPROBE (the modprobe command), PROC_SYS
# (the /proc/sys directory to write).
set -eu
kube_ipvs=${KUBE_IPVS:-kube-ipvs}
modprobe=${MODPROBE:-modprobe}
proc_sys=${PROC_SYS:-/proc/sys}

empty=$(mktemp -d)
trap 'rmdir "$empty"' EXIT
plan=$("$kube_ipvs" sync --dry-run --output shell -f "$empty" "$@")

printf '%s\n' "$plan" | while read -r cmd arg1 arg2; do
    case $cmd in
        modprobe)
            # A built-in module is fine (modprobe succeeds); a missing one stops the pod here with
            # modprobe's own message, before the daemon starts.
            $modprobe "$arg1"
            echo "kube-ipvs-prepare-node: module $arg1 loaded" ;;
        sysctl)
            # sysctl -w NAME=VALUE
            [ "$arg1" = -w ] || { echo "kube-ipvs-prepare-node: unexpected plan line: $cmd $arg1 $arg2" >&2; exit 1; }
            name=${arg2%%=*} value=${arg2#*=}
            path=$proc_sys/$(printf '%s' "$name" | tr . /)
            printf '%s\n' "$value" >"$path"
            echo "kube-ipvs-prepare-node: $name=$value" ;;
    esac
done
