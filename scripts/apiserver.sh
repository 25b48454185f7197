#!/usr/bin/env bash
# The real-apiserver tier as one command: build kube-apiserver from Debian's kubernetes source
# package if it is not cached yet (Tests/apiserver/build.sh; the first time ~5 minutes on 2 idle
# cores, 15-18 with other builds running, then instant), start etcd + kube-apiserver on
# loopback, run Tests/apiserver/tests/, stop (~35 s with a cached build).
#
#   bash scripts/apiserver.sh [-v] [--keep] [NAME...]     (arguments go to Tests/apiserver/run.sh)
#
# Last lines: "apiserver: N passed, N failed, N skipped" and the total time. Exit 1 on failure.
# Not part of scripts/test.sh's default tiers because a cold build does not fit CI's budget well.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
t0=$(date +%s)
bash Tests/apiserver/run.sh "$@"
rc=$?
echo "apiserver tier: total $(( $(date +%s) - t0 )) s"
exit $rc
