# Convenience targets; the scripts are the source of truth.
# KUBE_IPVS_SCRATCH (default .build) selects the swift --scratch-path, e.g.
#   make test KUBE_IPVS_SCRATCH=.build-mine
export KUBE_IPVS_SCRATCH ?= .build

.PHONY: all build deps test test-unit test-netns test-vm vm-image image test-node bench bench-core fuzz

all: build

deps:
	bash scripts/install-deps.sh

build:
	swift build --scratch-path $(KUBE_IPVS_SCRATCH)

# The README's test command: every tier (unit, host netns, QEMU guest).
test:
	bash scripts/test.sh

test-unit:
	bash scripts/test.sh unit

test-netns:
	bash scripts/test.sh netns

test-vm:
	bash scripts/test.sh vm

# Build (or reuse) the guest kernel and base initramfs in .cache/vm/.
vm-image:
	bash Tests/vm/build-image.sh

# The container image as an OCI archive, without a container daemon (mmdebstrap + umoci; root).
# KUBE_IPVS_IMAGE_BINARY: a release binary built with --static-swift-stdlib; unset, it is
# .build-guest/release/kube-ipvs, built when missing. Prints the archive's path and size.
# With Docker or Podman instead: podman build -f deploy/Containerfile -t kube-ipvs:0.1.0 .
image:
	bash deploy/build-image.sh $(if $(KUBE_IPVS_IMAGE_BINARY),--binary $(KUBE_IPVS_IMAGE_BINARY))

# The real-node tier (Tests/node/README.md): control plane on the host, kubelet + containerd in a
# QEMU guest, kube-ipvs from deploy/ as a DaemonSet. Its own command, not part of `make test`.
test-node:
	bash scripts/node.sh

# The benchmarks of issues 7 and 16 (docs/benchmarks.md): (a) the core on the host, (b) cold sync
# vs the kernel tools, (c)-(e) in one QEMU boot per size sync -f, kube-ipvs run and kube-proxy 1.20
# on the same objects of a real kube-apiserver, (f) JSON vs protobuf list decoding, (g) binary and
# image size. Prints a table per part with each target met or not and rewrites the results in
# docs/benchmarks.md; `bash scripts/bench.sh --parts e --sizes "1000 10000"` runs some. Never
# part of `make test`.
bench:
	bash scripts/bench.sh

# Pure computation only (desired state + diff + plan) for 1k/10k/50k Services x 10 endpoints,
# median of 5 runs, printed raw (what scripts/bench.sh tabulates).
bench-core:
	swift build -c release --product kube-ipvs-bench --scratch-path $(KUBE_IPVS_SCRATCH)
	$(KUBE_IPVS_SCRATCH)/release/kube-ipvs-bench 1000 10000 50000 --runs 5

# libFuzzer targets: manifests, API objects, kubeconfig, watch events, netlink replies (Fuzz/, scripts/fuzz.sh);
# FUZZ_SECONDS per target. Never part of `make test`.
FUZZ_SECONDS ?= 60
fuzz:
	bash scripts/fuzz.sh $(FUZZ_SECONDS)
