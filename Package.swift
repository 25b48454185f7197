// swift-tools-version:6.1
import PackageDescription

// The layout mirrors the data flow (docs/architecture.md):
//   KubeModel (API objects, manifests) -> ProxyCore (DesiredState, Plan, renderer)
//   -> KernelPort (the protocols a kernel implements, the in-memory kernel)
//   -> Kernel (the only code that talks to the kernel) ; kube-ipvs wires them.
let package = Package(
    name: "kube-ipvs",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "kube-ipvs", targets: ["kube-ipvs"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // No default traits: BinaryDelimitedStreams imports all of Foundation (ICU's data, ~35 MB in
        // the static binary) for stream APIs kube-ipvs does not use; it needs tools version 6.1.
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0", traits: []),
    ],
    targets: [
        // MARK: - Pure targets (no Glibc, no logging)
        // YAML through libyaml directly (KubeModel/YAMLComposer), not Yams: Yams imports all of
        // Foundation, which links ICU (about 35 MB) into the static release binary.
        .target(name: "KubeModel", dependencies: ["CLibYAML"]),
        .target(name: "ProxyCore", dependencies: ["KubeModel"]),
        // The port between the reconcile loop and a kernel: protocols, apply reports and errors, and
        // the one in-memory kernel. Glibc only for strerror(3) in error texts.
        .target(name: "KernelPort", dependencies: ["ProxyCore", "KubeModel"]),

        // MARK: - C libraries (system-library targets; flags from pkg-config)
        .systemLibrary(name: "CNetlink", pkgConfig: "libnl-genl-3.0 libnl-route-3.0",
                       providers: [.apt(["libnl-3-dev", "libnl-genl-3-dev", "libnl-route-3-dev"])]),
        .systemLibrary(name: "CLibYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CIPSet", pkgConfig: "libipset", providers: [.apt(["libipset-dev"])]),
        .systemLibrary(name: "CIPTC", pkgConfig: "libiptc", providers: [.apt(["libiptc-dev"])]),
        // Narrow C shims: libipset and libiptc headers clash (nf_inet_addr) in one Swift module,
        // so each library is used only from its own C file and Kernel sees plain functions.
        .target(name: "CIPSetShim", dependencies: ["CIPSet"]),
        .target(name: "CIPTCShim", dependencies: ["CIPTC"]),

        // MARK: - The only code that talks to the kernel
        .target(name: "Kernel", dependencies: ["KernelPort", "ProxyCore", "KubeModel", "CNetlink", "CIPSetShim", "CIPTCShim"]),

        // MARK: - The daemon's caches, sync scheduling and graceful termination (no I/O): it programs
        // a kernel through KernelPort only, so neither it nor its tests link libnl, libipset or libiptc.
        .target(name: "Reconciler", dependencies: ["ProxyCore", "KubeModel", "KernelPort"]),

        // MARK: - Kubernetes API client: list/watch over HTTPS; knows nothing of IPVS
        // The API's protobuf messages kube-ipvs reads, generated from kube.proto by
        // scripts/gen-proto.sh (committed, so the build needs no protoc). Own target: the fake API
        // server encodes with the same messages.
        .target(name: "KubeProto", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
                exclude: ["kube.proto"]),
        .target(name: "KubeClient", dependencies: [
            "KubeModel", "KubeProto",
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        // A fake kube-apiserver on loopback for tests (test support only, not shipped).
        .target(name: "KubeFakeAPI", dependencies: [
            "KubeProto",
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ], path: "Tests/KubeFakeAPI"),

        // MARK: - The daemon (`kube-ipvs run`): reflectors -> ProxyLoop -> NodeKernel, plus the
        // /healthz, /livez and /metrics HTTP endpoints, logs and the service lifecycle.
        .target(name: "Daemon", dependencies: [
            "KubeModel", "ProxyCore", "KernelPort", "Kernel", "Reconciler", "KubeClient",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),

        // MARK: - CLI (wiring only)
        .executableTarget(
            name: "kube-ipvs",
            dependencies: [
                "KubeModel", "ProxyCore", "KernelPort", "Kernel", "Daemon", "Reconciler", "KubeClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            // swiftc's static-stdlib link exports every symbol of our own objects (40k): 4 MB of
            // symbol tables in the binary, and ~2 MiB of them resident, since every shared library's
            // symbol lookup searches the executable first. Nothing looks our symbols up by name.
            linkerSettings: [.unsafeFlags(["-Xlinker", "--no-export-dynamic"])]
        ),
        // Test driver for the kernel backends inside the QEMU guest (Tests/vm/tests/2*-*.sh); not shipped.
        .executableTarget(name: "kernel-probe", dependencies: ["Kernel", "KernelPort", "ProxyCore", "KubeModel"]),

        // The pure-core benchmark (`make bench-core`); not shipped.
        .executableTarget(name: "kube-ipvs-bench", dependencies: ["KubeModel", "ProxyCore", "KernelPort", "Reconciler", "Daemon", "KubeClient"]),

        // MARK: - Tests
        // What several test targets build their inputs with (API objects as JSON, the in-memory
        // kernel as the loop tests use it, polling and a locked box); not shipped.
        .target(name: "TestSupport", dependencies: ["KernelPort", "ProxyCore"], path: "Tests/TestSupport"),
        .testTarget(name: "KubeModelTests", dependencies: ["KubeModel"]),
        .testTarget(name: "ProxyCoreTests", dependencies: ["ProxyCore", "KubeModel"]),
        .testTarget(name: "KernelTests", dependencies: ["Kernel", "KernelPort", "ProxyCore", "KubeModel"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "ReconcilerTests", dependencies: ["Reconciler", "ProxyCore", "KubeModel", "KernelPort", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["KubeFakeAPI", "TestSupport"], exclude: ["Golden", "Fixtures"]),
        .testTarget(name: "KubeClientTests", dependencies: ["KubeClient", "KubeModel", "KubeFakeAPI", "KubeProto", "TestSupport",
                                                         .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .testTarget(name: "DaemonTests", dependencies: [
            "Daemon", "Reconciler", "KubeClient", "KubeModel", "ProxyCore", "KernelPort", "Kernel", "KubeFakeAPI", "TestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ]),
    ]
)
