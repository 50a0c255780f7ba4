// swift-tools-version: 6.1
import Foundation
import PackageDescription

/// Settings every Swift target shares: Swift 6 language mode (strict concurrency) and explicit `any`.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

/// libFuzzer targets exist only for `scripts/fuzz.sh` (TOOLWORKER_FUZZ=1): they need `-sanitize=fuzzer`, which
/// supplies their `main`.
let fuzzTargets: [Target] = ProcessInfo.processInfo.environment["TOOLWORKER_FUZZ"] == nil ? [] : [
    ("FuzzSSE", "Fuzz/SSE"), ("FuzzJSON", "Fuzz/JSON"), ("FuzzConfig", "Fuzz/Config"), ("FuzzResponses", "Fuzz/Responses"),
].map { name, path -> Target in
    .executableTarget(name: name, dependencies: ["RunLoopCore", "FuzzDriver"], path: path, swiftSettings: swiftSettings)
} + [.target(name: "FuzzDriver", path: "Fuzz/Driver", swiftSettings: swiftSettings)]

let package = Package(
    name: "ToolWorker",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "toolworker", targets: ["ToolWorker"]),
        .library(name: "RunLoopCore", targets: ["RunLoopCore"]),
        .executable(name: "fake-assistants", targets: ["FakeAssistantsServer"]),
        .executable(name: "toolworker-test-helper", targets: ["TestHelper"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk.git", exact: "0.12.1"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.1.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // OpenSSL's libcrypto (libcurl's TLS library here): HMAC-SHA-256 for sealing approval requests.
        .systemLibrary(
            name: "CCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        // The library's layers, lowest first; each may import only the ones listed as its dependencies.
        .target(name: "WireFormat", swiftSettings: swiftSettings),
        .target(name: "AssistantsProtocol", dependencies: ["WireFormat", "WorkModel"], swiftSettings: swiftSettings),
        .target(name: "ResponsesProtocol", dependencies: ["WireFormat", "WorkModel"], swiftSettings: swiftSettings),
        .target(name: "HTTPTransport", dependencies: ["CCurl", "WireFormat"], swiftSettings: swiftSettings),
        // The HTTP plumbing every OpenAI-style client shares (headers, retries, redaction, event-stream checks):
        // the Assistants and Responses clients are two thin layers over it, neither depending on the other.
        .target(
            name: "OpenAIClient",
            dependencies: [
                "HTTPTransport", "WireFormat", .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "AssistantsAPI",
            dependencies: [
                "OpenAIClient", "HTTPTransport", "AssistantsProtocol", "WorkModel", "WireFormat",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "ResponsesAPI",
            dependencies: [
                "OpenAIClient", "ResponsesProtocol", "HTTPTransport", "WireFormat", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .target(name: "WorkModel", dependencies: ["WireFormat"], swiftSettings: swiftSettings),
        .target(
            name: "Journal", dependencies: ["CSQLite", "WorkModel", "WireFormat", .product(name: "CoreMetrics", package: "swift-metrics")],
            swiftSettings: swiftSettings),
        // The journal on PostgreSQL (libpq), for fleets: the same store behind the same seam.
        .target(name: "PostgresJournal", dependencies: ["CLibPQ", "Journal", "WorkModel"], swiftSettings: swiftSettings),
        .target(
            name: "ToolRunner",
            dependencies: [
                "WorkModel", "WireFormat", .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings),
        // MCP servers as a tool source (the official SDK's client; stdio and Streamable HTTP transports of ours).
        .target(
            name: "MCPTools",
            dependencies: [
                "ToolRunner", "WorkModel", "WireFormat", "HTTPTransport", .product(name: "MCP", package: "swift-sdk"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "Operations",
            dependencies: [
                "WireFormat",
                .product(name: "Logging", package: "swift-log"), .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "Worker",
            dependencies: [
                "Journal", "ToolRunner", "Operations", "WorkModel", "WireFormat", "CCrypto", .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings),
        .target(name: "BackendSupport", dependencies: ["Worker", "OpenAIClient"], swiftSettings: swiftSettings),
        // The operator console, served by the daemon's HTTP listener: pages from the journal's read model.
        .target(
            name: "Console",
            dependencies: ["Journal", "Operations", "WorkModel", "WireFormat", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings),
        // OpenTelemetry traces: swift-distributed-tracing's Tracer, exported over OTLP/HTTP by our libcurl client.
        .target(
            name: "Telemetry",
            dependencies: [
                "HTTPTransport", "WireFormat", .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "AssistantsBackend",
            dependencies: [
                "Worker", "AssistantsAPI", "AssistantsProtocol", "OpenAIClient", "HTTPTransport", "BackendSupport", "WorkModel", "WireFormat",
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "ResponsesBackend",
            dependencies: [
                "Worker", "ResponsesAPI", "ResponsesProtocol", "HTTPTransport", "BackendSupport", "OpenAIClient", "WorkModel", "WireFormat",
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "Configuration",
            dependencies: [
                "OpenAIClient", "ToolRunner", "MCPTools", "Operations", "WorkModel", "WireFormat", .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        // The umbrella the executable imports (re-exports every layer).
        .target(
            name: "RunLoopCore",
            dependencies: [
                "WireFormat", "AssistantsProtocol", "HTTPTransport", "OpenAIClient", "AssistantsAPI", "WorkModel", "Journal",
                "ToolRunner", "Operations", "Worker", "AssistantsBackend", "Configuration", "ResponsesProtocol", "ResponsesAPI",
                "ResponsesBackend", "BackendSupport", "PostgresJournal", "MCPTools", "Telemetry", "Console",
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "ToolWorker",
            dependencies: [
                "RunLoopCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Test support (not part of the `toolworker` product): a scripted Assistants v2 server on loopback.
        .target(
            name: "FakeAssistants",
            dependencies: ["RunLoopCore"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "FakeAssistantsServer",
            dependencies: ["FakeAssistants", "RunLoopCore"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "TestHelper",
            dependencies: ["RunLoopCore"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "Benchmarks",
            dependencies: [
                "RunLoopCore", "FakeAssistants",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RunLoopCoreTests",
            dependencies: [
                "RunLoopCore", "WireFormat", "AssistantsProtocol", "HTTPTransport", "OpenAIClient", "AssistantsAPI", "WorkModel", "Journal",
                "ToolRunner", "Worker", "AssistantsBackend", "Configuration", "ResponsesProtocol",
                "FakeAssistants", "PostgresJournal", "MCPTools", "CSQLite", "Telemetry", "Console", "Operations", .product(name: "Logging", package: "swift-log"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
    ]
)
package.targets += fuzzTargets
