#!/usr/bin/env bash
# Host side of 23-ipvs-scale: the kernel-probe driver into $OUT, and the size (KUBE_IPVS_VM_SCALE="N M").
[ -n "${KUBE_IPVS_VM_SCALE:-}" ] && echo "$KUBE_IPVS_VM_SCALE" >"$OUT/scale"
exec bash "$(dirname "${BASH_SOURCE[0]}")/kernel-probe.host.bash"
