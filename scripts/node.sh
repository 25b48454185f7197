#!/usr/bin/env bash
# The real-node tier as one command (Tests/node/README.md): builds what is missing (kubelet,
# kube-controller-manager, kube-scheduler from Debian's kubernetes source package; the kube-ipvs
# image with deploy/build-image.sh; the guest's node layer), starts the control plane on loopback
# and a QEMU guest node, deploys kube-ipvs from deploy/ as a DaemonSet and checks it end to end.
#
#   bash scripts/node.sh [--keep] [--nodes 1|2] [--upto node|deploy|services|rolling|all]
#
# Last lines: the total time and "node: N passed, N failed, N skipped". Exit 1 on failure.
# Not part of scripts/test.sh: a cold build takes ~15 minutes and a run ~15-25 under TCG.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec bash "$repo/Tests/node/run.sh" "$@"
