#!/usr/bin/env bash
# Host side of 20-ipvs-netlink: the kernel-probe driver into $OUT.
exec bash "$(dirname "${BASH_SOURCE[0]}")/kernel-probe.host.bash"
