#!/usr/bin/env bash
# Regenerates Sources/KubeProto/kube.pb.swift from Sources/KubeProto/kube.proto.
# The generated file is committed, so a build never needs protoc; run this after editing the schema.
# Needs protoc (Debian: protobuf-compiler) and protoc-gen-swift of the swift-protobuf version in
# Package.swift; PROTOC_GEN_SWIFT names it, else it is built once from the package's checkout.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v protoc >/dev/null || { echo "gen-proto: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }
plugin=${PROTOC_GEN_SWIFT:-}
if [[ -z "$plugin" ]]; then
    # Built from the checkout SwiftPM resolved, so the generator matches the runtime library.
    src=.build/checkouts/swift-protobuf
    [[ -d "$src" ]] || { echo "gen-proto: $src missing: run 'swift package resolve' first, or set PROTOC_GEN_SWIFT" >&2; exit 1; }
    scratch=${TMPDIR:-/tmp}/kube-ipvs-protoc-gen-swift
    rm -rf "$scratch" && mkdir -p "$scratch" && cp -R "$src/." "$scratch/"
    (cd "$scratch" && swift build -c release --product protoc-gen-swift >&2)
    plugin=$scratch/.build/release/protoc-gen-swift
fi
protoc --plugin=protoc-gen-swift="$plugin" \
    --swift_opt=Visibility=Public --swift_opt=FileNaming=DropPath \
    -I Sources/KubeProto --swift_out=Sources/KubeProto Sources/KubeProto/kube.proto
echo "gen-proto: wrote Sources/KubeProto/kube.pb.swift"
