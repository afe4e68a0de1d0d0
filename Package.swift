// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Sett",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Sett", targets: ["Sett"]),
        .executable(name: "sett", targets: ["sett"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
    ],
    targets: [
        .systemLibrary(name: "CSnappy", pkgConfig: "snappy",
                       providers: [.apt(["libsnappy-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd",
                       providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4",
                       providers: [.apt(["liblz4-dev"])]),
        .target(name: "CSettShims"),
        .target(
            name: "Sett",
            dependencies: [
                "CSnappy", "CZstd", "CLZ4", "CSettShims",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "SettCLI",
            dependencies: [
                "Sett",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(name: "sett", dependencies: ["SettCLI"], swiftSettings: strict),
        .testTarget(name: "SettTests", dependencies: ["Sett", "SettCLI"], exclude: ["Fixtures"], swiftSettings: strict),
    ]
)

// The libFuzzer driver (Sources/SettFuzz) exists only for scripts/fuzz.sh, which sets
// SETT_FUZZ=1 and builds with -sanitize=fuzzer (the driver enters libFuzzer through
// LLVMFuzzerRunDriver, declared by Sources/CSettFuzz). A normal
// `swift build` / `swift test` never sees it.
if Context.environment["SETT_FUZZ"] == "1" {
    package.targets.append(.target(name: "CSettFuzz"))
    package.targets.append(.executableTarget(name: "SettFuzz", dependencies: ["Sett", "CSettFuzz"], swiftSettings: strict))
    package.products.append(.executable(name: "SettFuzz", targets: ["SettFuzz"]))
}
