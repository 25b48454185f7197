#!/usr/bin/env bash
# The README's first command: install what is missing, build kube-ipvs, and print what it would do
# to an empty node for the seed's web-service (examples/web-service.yaml).
#
#   bash scripts/example.sh [extra kube-ipvs sync flags...]
#
# Nothing on this machine is changed besides Debian packages and the build folder: the output is a
# dry-run, a shell script you can read, or run on a node (or inside the test guest) as root.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
case ":$PATH:" in *:/opt/swift/usr/bin:*) ;; *) [ -d /opt/swift/usr/bin ] && PATH=/opt/swift/usr/bin:$PATH ;; esac
bash scripts/install-deps.sh </dev/null >&2
swift build -c release --product kube-ipvs >&2
exec .build/release/kube-ipvs sync --dry-run -f examples/web-service.yaml --config examples/kube-proxy-config.yaml "$@"
