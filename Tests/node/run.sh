#!/usr/bin/env bash
# The node tier (Tests/node/README.md): kube-ipvs as a real DaemonSet on a real node.
# Host: etcd + kube-apiserver (Tests/apiserver/start.sh), kube-controller-manager, kube-scheduler,
# all on loopback. QEMU guest(s): containerd + runc + CNI (bridge, host-local, loopback) + kubelet
# 1.20 joined to the API server through QEMU's guestfwd. The host drives everything with kubectl
# and reads the node through a control channel (a hostfwd to a shell in the guest).
#
#   Tests/node/run.sh [--keep] [--nodes 1|2] [--upto STEP]
#     STEP: node (the kubelet's node Ready), deploy (kube-ipvs from deploy/ programs the node),
#           services (pods through Services; with --nodes 2 then the cross-node checks),
#           all (default: then the rolling update, delete, re-adopt, cleanup)
# Output: one line per check, `PASS name: what` / `FAIL name: what, expected, found`, `FIGURES ...`
# lines with the request counts, and last `node: N passed, N failed, N skipped`. Exit 1 on failure,
# 77 when it cannot run here (not root, no build). Bounded: every wait has a limit.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
keep=0 nodes=${KUBE_IPVS_NODES:-1} upto=all
while [ $# -gt 0 ]; do
    case $1 in
        --keep) keep=1; shift ;;
        --nodes) nodes=$2; shift 2 ;;
        --upto) upto=$2; shift 2 ;;
        *) echo "usage: $0 [--keep] [--nodes 1|2] [--upto node|deploy|services|all]" >&2; exit 2 ;;
    esac
done
. "$here/lib.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP node: not root"; echo "node: 0 passed, 0 failed, 1 skipped"; exit 77; }
t_start=$(date +%s)

# --- builds (cached) ------------------------------------------------------------------------
bash "$here/build.sh" >"$state/build.log" 2>&1; rc=$?
[ $rc = 0 ] || { tail -n 20 "$state/build.log"; skip_or_fail $rc "Kubernetes node components (Tests/node/build.sh)"; }
. "$apicache/node-env"
binary=${KUBE_IPVS_IMAGE_BINARY:-${KUBE_IPVS_GUEST_BIN:-$repo/.build-guest/release/kube-ipvs}}
if [ ! -x "$binary" ]; then
    note "building $binary (swift build -c release --static-swift-stdlib --scratch-path .build-guest)"
    swift build -c release --static-swift-stdlib --scratch-path .build-guest --product kube-ipvs >"$state/swift.log" 2>&1 ||
        { tail -n 20 "$state/swift.log"; skip_or_fail 1 "the release binary"; }
fi
img=$(bash "$repo/Tests/vm/build-image.sh" 2>"$state/vm-image.log") || { cat "$state/vm-image.log"; skip_or_fail 1 "the guest image"; }
kernel=$(echo "$img" | sed -n 's/^KERNEL=//p'); base=$(echo "$img" | sed -n 's/^BASE_INITRD=//p')
g=$(bash "$here/build-guest.sh" "$binary" 2>"$state/guest-build.log") || { tail -n 20 "$state/guest-build.log"; skip_or_fail 1 "the node layer (Tests/node/build-guest.sh)"; }
node_cpio=$(echo "$g" | sed -n 's/^NODE_CPIO=//p')
tag=$(echo "$g" | sed -n 's/^KUBE_IPVS_TAG=//p'); tag2=$(echo "$g" | sed -n 's/^KUBE_IPVS_TAG2=//p')
img_size=$(stat -c %s "$nodecache/images/kube-ipvs-$tag.oci.tar")
note "image kube-ipvs:$tag $(numfmt --to=iec "$img_size")B ($img_size bytes); builds ready after $(( $(date +%s) - t_start )) s"

# --- control plane ----------------------------------------------------------------------------
control_plane_up || finish
t_cp=$(date +%s)

# --- the node(s) ------------------------------------------------------------------------------
for n in $(seq 1 "$nodes"); do boot_node "$n" || finish; done
for n in $(seq 1 "$nodes"); do
    if wait_channel "$n" 300; then pass "node$n/boot" "guest booted, containerd up, images imported: $(gsh "$n" 'ctr -n k8s.io images ls -q | grep -v ^sha256: | tr "\n" " "')"
    else fail "node$n/boot" "no control channel after 300 s: $(grep '^NODE:' "$state/node$n.console" | tail -n 3 | tr '\n' ' ')"; finish; fi
done
for n in $(seq 1 "$nodes"); do
    if wait_for 600 node_ready "node$n"; then pass "node$n/ready" "kubelet registered node$n Ready after $(( $(date +%s) - t_cp )) s"
    else fail "node$n/ready" "node$n not Ready within 600 s: $(k get node "node$n" -o jsonpath='{.status.conditions[?(@.type=="Ready")].message}' 2>&1)"; node_logs "$n"; finish; fi
done
[ "$upto" = node ] && finish

. "$here/steps.sh"
step_deploy || finish
[ "$upto" = deploy ] && finish
step_services
# Two nodes: cross-node traffic before the rolling step (which ends with a cleaned node).
[ "$nodes" = 2 ] && step_two_nodes
[ "$upto" = services ] && finish
step_rolling
finish
