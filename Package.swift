// swift-tools-version:6.0
import PackageDescription

/// AuraMedia: a JSON-RPC media backend for video editors.
///
/// The targets follow the pipe the product is: bytes → `JSONRPC` (framing, dispatch; knows no media) →
/// `AuraServer` (the protocol: request types bound to services) → `Settings`, `MediaImport` (the settings and import
/// logic the server and the CLI share) → `Proxies`, `Waveforms`, `Frames`, `Telemetry` (the services) → `Media`
/// (Swift over libav, the only module that imports `CFFmpeg`; knows no JSON) and `MediaCache` (the cache directory
/// every service shares: content identity, cross-process locks, cache areas, the catalogue database; links no libav)
/// → `FileErrors` (what can go wrong with a file) and `Jobs` (queues, the blocking pool). `Bridge` carries the
/// protocol over WebSocket to per-connection servers. `aura-media` only wires them.
let package = Package(
    name: "AuraMedia",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "aura-media", targets: ["aura-media"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", exact: "0.2.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", exact: "2.8.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/vapor/postgres-nio", exact: "1.33.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CFFmpeg",
            pkgConfig: "libavformat",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libavutil-dev", "libswscale-dev", "libswresample-dev", "libavfilter-dev"])]
        ),
        .systemLibrary(name: "CGlibcMalloc"),
        // Per-pixel loops over picture planes (area reduction, HDR to SDR in one pass); no libav types.
        .target(name: "CPictureKernels"),
        .target(name: "Locking"),
        .target(name: "FileErrors"),
        .target(
            name: "JSONRPC",
            dependencies: ["Locking", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "Media",
            dependencies: ["CFFmpeg", "CPictureKernels", "FileErrors"]
        ),
        .target(name: "Jobs", dependencies: ["Locking"]),
        .target(
            name: "MediaCache",
            dependencies: [
                "Locking", "FileErrors",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .target(
            name: "Proxies",
            dependencies: [
                "Locking", "FileErrors", "Media", "MediaCache", "Jobs",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The proxy farm (issue 20): PostgreSQL as the shared catalogue and work queue, segment claims under leases, the
        // worker. Makes and joins parts through `Proxies` (segment identity and joining stay in the proxy engine).
        .target(
            name: "Farm",
            dependencies: [
                "Locking", "FileErrors", "Media", "MediaCache", "Jobs", "Proxies",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Waveforms",
            dependencies: [
                "Locking", "FileErrors", "Media", "MediaCache", "Jobs",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Frames",
            dependencies: [
                "Locking", "FileErrors", "Media", "MediaCache", "Jobs",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Telemetry",
            dependencies: ["Locking", .product(name: "Histogram", package: "hdrhistogram-swift")]
        ),
        .target(
            name: "Settings",
            dependencies: ["Locking", "Media", "MediaCache", "Proxies"]
        ),
        .target(
            name: "MediaImport",
            dependencies: ["Jobs", "Media", "Proxies", "Settings", "Waveforms"]
        ),
        .target(
            name: "AuraServer",
            dependencies: [
                "Locking", "JSONRPC", "FileErrors", "Media", "MediaCache", "Jobs", "Proxies", "Waveforms", "Frames", "Telemetry",
                "Settings", "MediaImport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Bridge",
            dependencies: [
                "Locking", "JSONRPC",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Fuzzing",
            dependencies: ["Locking", "JSONRPC", .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "aura-media",
            dependencies: [
                "Locking", "AuraServer", "Bridge", "JSONRPC", "Proxies", "Waveforms", "Frames", "Media", "MediaCache",
                "CGlibcMalloc", "Jobs", "Settings", "MediaImport", "Farm",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "JSONRPCTests", dependencies: ["Locking", "JSONRPC", "TestSupport"]),
        .testTarget(name: "FuzzTests", dependencies: ["Fuzzing", "JSONRPC", "TestSupport"]),
        .testTarget(name: "MediaTests", dependencies: ["Media", "CPictureKernels", "TestSupport"]),
        .target(name: "TestSupport", dependencies: ["JSONRPC", .product(name: "Logging", package: "swift-log")], path: "Tests/TestSupport"),
        .testTarget(name: "JobsTests", dependencies: ["Locking", "Jobs", "TestSupport"]),
        .testTarget(name: "MediaCacheTests", dependencies: ["FileErrors", "MediaCache", "TestSupport"]),
        .testTarget(name: "WaveformsTests", dependencies: ["Locking", "Waveforms", "Media", "MediaCache", "Jobs", "TestSupport"]),
        .testTarget(name: "FramesTests", dependencies: ["FileErrors", "Frames", "Media", "MediaCache", "Jobs", "TestSupport"]),
        .testTarget(name: "ProxiesTests", dependencies: ["Locking", "FileErrors", "Proxies", "Media", "MediaCache", "TestSupport"]),
        .testTarget(name: "FarmTests", dependencies: ["aura-media", "Farm", "Proxies", "Media", "MediaCache", "TestSupport"]),
        .testTarget(name: "TelemetryTests", dependencies: ["Locking", "Telemetry"]),
        .testTarget(
            name: "AuraServerTests",
            dependencies: ["AuraServer", "JSONRPC", "Settings", "TestSupport", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "BridgeTests", dependencies: ["Bridge"]),
        .testTarget(name: "EndToEndTests", dependencies: ["aura-media", "JSONRPC", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)

// The libFuzzer target, built only on request: `--sanitize=fuzzer` links libFuzzer's `main`, so the target has none
// of its own and would not link in a normal build. README "Fuzzing":
//   AURA_FUZZ=1 swift build -c release --sanitize=fuzzer --product aura-fuzz --scratch-path .build-fuzz
if Context.environment["AURA_FUZZ"] != nil {
    package.targets.append(
        .executableTarget(
            name: "aura-fuzz",
            dependencies: ["Fuzzing"],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ))
    package.products.append(.executable(name: "aura-fuzz", targets: ["aura-fuzz"]))
}
