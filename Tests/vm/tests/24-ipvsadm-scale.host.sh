#!/usr/bin/env bash
# Host side of 24-ipvsadm-scale: the kernel-probe driver (it generates the rules) into $OUT, and the size.
[ -n "${KUBE_IPVS_VM_SCALE:-}" ] && echo "$KUBE_IPVS_VM_SCALE" >"$OUT/scale"
exec bash "$(dirname "${BASH_SOURCE[0]}")/kernel-probe.host.bash"
