#!/usr/bin/env bash
# Host side of 22-seed-sync: the kernel-probe driver into $OUT.
exec bash "$(dirname "${BASH_SOURCE[0]}")/kernel-probe.host.bash"
