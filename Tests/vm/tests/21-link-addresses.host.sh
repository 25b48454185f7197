#!/usr/bin/env bash
# Host side of 21-link-addresses: the kernel-probe driver into $OUT.
exec bash "$(dirname "${BASH_SOURCE[0]}")/kernel-probe.host.bash"
