// swift-tools-version:6.0
// refclip — weakly supervised visual grounding (RefCLIP) trained on CPU clusters with MPI.
import PackageDescription

let package = Package(
    name: "refclip",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "refclip", targets: ["refclip"]),
        .executable(name: "refclip-bench", targets: ["refclip-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // System-library shims, linked through pkg-config.
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd",
                       providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CCPUID", path: "Sources/CCPUID"),
        .systemLibrary(name: "CImage", path: "Sources/CImage", pkgConfig: "libpng",
                       providers: [.apt(["libturbojpeg0-dev", "libpng-dev"])]),

        // Library modules; dependencies point one way (DESIGN.md §2).
        .target(name: "Tensors", dependencies: ["CBLAS", "CCPUID"]),
        // File formats: ZIP, pickle and PyTorch checkpoints, safetensors, zstd frames, checksums.
        .target(name: "Formats", dependencies: ["Tensors", "CZstd", "CZlib", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "Distributed", dependencies: ["CMPI", "Tensors"]),
        .target(name: "Layers", dependencies: ["Tensors", "Formats", "Distributed"]),
        .target(name: "Datasets", dependencies: ["Tensors", "Formats", "Distributed", "CZlib"]),
        .target(name: "Detector", dependencies: ["Tensors", "Formats", "Datasets", "Distributed", "CImage"]),
        .target(name: "Models", dependencies: ["Tensors", "Layers", "Distributed"]),
        .target(name: "Evaluation", dependencies: ["Tensors", "Layers", "Models", "Datasets", "Distributed"]),
        .target(name: "Configuration", dependencies: ["Tensors", "Formats", "Distributed", "Models", "Datasets", "Detector", "Yams"]),
        .target(name: "Training", dependencies: ["Tensors", "Formats", "Layers", "Models", "Datasets", "Evaluation", "Distributed", "Configuration"]),
        .target(name: "Application", dependencies: ["Tensors", "Formats", "Models", "Datasets", "Detector", "Evaluation", "Distributed", "Configuration", "Training"]),
        // Every reader of outside files behind one interface, for the fuzzer and the hostile-file tests.
        .target(name: "ReaderTargets", dependencies: ["Tensors", "Formats", "Datasets", "Detector", "Configuration", "Training"]),
        // libFuzzer's driver where the binary is built with -sanitize=fuzzer (make fuzz), a refusal elsewhere.
        .target(name: "CFuzzer"),

        // Executables: the CLI is thin; the benchmark binary backs `make bench`.
        .executableTarget(name: "refclip", dependencies: [
            "Tensors", "Formats", "Datasets", "Detector", "Evaluation", "Configuration", "Training", "Application", "Distributed",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "refclip-bench", dependencies: [
            "Tensors", "Formats", "Layers", "Models", "Training", "Detector", "Distributed", "CBLAS", "CMPI",
        ]),
        .executableTarget(name: "refclip-fuzz", dependencies: ["ReaderTargets", "CFuzzer"]),

        // Tests: gradient checks, fixtures and process helpers shared by the test targets.
        .target(name: "TestSupport", dependencies: ["Tensors", "Formats", "Layers", "Models", "Detector", "Distributed"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors", "TestSupport"]),
        .testTarget(name: "FormatsTests", dependencies: ["Tensors", "Formats", "TestSupport"]),
        .testTarget(name: "LayersTests", dependencies: ["Tensors", "Layers", "Distributed", "TestSupport"]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed", "TestSupport"]),
        .testTarget(name: "ModelsTests", dependencies: ["Tensors", "Layers", "Models", "Distributed", "TestSupport"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Tensors", "Formats", "Datasets", "Distributed", "CZlib", "TestSupport"]),
        .testTarget(name: "DetectorTests", dependencies: ["Tensors", "Formats", "Datasets", "Detector", "CImage", "TestSupport"]),
        .testTarget(name: "CommandLineTests", dependencies: ["Tensors", "Formats", "Datasets", "Detector", "Configuration", "Training", "Application", "TestSupport"]),
        .testTarget(name: "HostileFileTests", dependencies: ["ReaderTargets", "Tensors", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Tensors", "Formats", "Layers", "Models", "Evaluation", "Configuration", "Training", "Application",
                                                          "Distributed", "TestSupport", "Yams"]),
    ],
    swiftLanguageModes: [.v5]
)
