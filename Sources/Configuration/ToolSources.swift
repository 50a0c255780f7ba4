import Foundation
import Logging
import MCPTools
import ToolRunner

/// A source of tools for a daemon or a command: listed when the registry is built from a configuration (starting
/// what it needs), listed again at each reload (what changed restarted, what went stopped), shut down at exit.
public protocol ToolSource: Sendable {
    /// The source's name in output (`mcp tools: …`); `nil` for the configuration's own tools.
    var label: String? { get }
    /// The tools `config` offers from this source now; a name in `taken` is refused (said in the problems).
    func list(_ config: ToolWorkerConfig, taken: Set<String>) async -> ToolListing
    /// Stops what the source started.
    func shutdown() async
}

/// The configuration's own tools: `tools:` (handlers), `shell:` and `apply_patch:`.
public struct ConfiguredTools: ToolSource {
    public init() {}
    public var label: String? { nil }
    public func list(_ config: ToolWorkerConfig, taken: Set<String>) async -> ToolListing {
        ToolListing(executors: config.registry.executors)
    }
    public func shutdown() async {}
}

extension MCPToolSource: ToolSource {
    public nonisolated var label: String? { "mcp" }
    public func list(_ config: ToolWorkerConfig, taken: Set<String>) async -> ToolListing {
        await list(config.mcpServers, sandboxHost: config.sandboxHost, taken: taken)
    }
}

/// Every source of tools, in order (the configuration's own first): the one lifecycle `serve`, `run`,
/// `sync-tools`, `check-config` and `tools` use, whatever the sources are.
public final class ToolSources: Sendable {
    public let sources: [any ToolSource]

    public init(_ sources: [any ToolSource]) {
        self.sources = sources
    }

    /// The sources a configuration can name. A process started by a source gets what every handler gets (never
    /// the daemon's own environment, which holds the API key).
    public convenience init(logger: Logger) {
        let base = ShellToolExecutor.baseEnvironment(inheriting: ProcessInfo.processInfo.environment)
        self.init([ConfiguredTools(), MCPToolSource(baseEnvironment: base, logger: logger)])
    }

    /// Every source's listing, in order, each refusing the names an earlier one took.
    public func list(_ config: ToolWorkerConfig) async -> [(source: any ToolSource, listing: ToolListing)] {
        var taken: Set<String> = []
        var listings: [(source: any ToolSource, listing: ToolListing)] = []
        for source in sources {
            let listing = await source.list(config, taken: taken)
            taken.formUnion(listing.executors.map(\.name))
            listings.append((source, listing))
        }
        return listings
    }

    /// The registry of every tool `config` offers now (at start, and again at each reload). What a source could
    /// not list is logged and left out; the rest are offered.
    public func registry(_ config: ToolWorkerConfig, logger: Logger) async -> ToolRegistry {
        let listings = await list(config)
        for (source, listing) in listings {
            for problem in listing.problems { logger.error("\(config.file): \(problem)") }
            if let label = source.label, !listing.executors.isEmpty {
                logger.info("\(label) tools listed", metadata: ["tools": "\(listing.executors.map(\.name).joined(separator: ","))"])
            }
        }
        return ToolRegistry(executors: listings.flatMap(\.listing.executors))
    }

    /// Stops what every source started.
    public func shutdown() async {
        for source in sources { await source.shutdown() }
    }

    /// For a command that only looks (`check-config`, `tools`): every source listed once, then shut down.
    public static func listOnce(_ config: ToolWorkerConfig) async -> [(source: any ToolSource, listing: ToolListing)] {
        let sources = ToolSources(logger: Logger(label: "toolworker") { _ in SwiftLogNoOpLogHandler() })
        let listings = await sources.list(config)
        await sources.shutdown()
        return listings
    }
}
