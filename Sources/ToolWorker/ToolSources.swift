import Foundation
import Logging
import RunLoopCore

/// The MCP servers' source for a daemon or a run: started servers get what every handler gets (never the daemon's
/// own environment, which holds the API key).
func makeMCPSource(logger: Logger) -> MCPToolSource {
    MCPToolSource(baseEnvironment: ShellToolExecutor.baseEnvironment(inheriting: ProcessInfo.processInfo.environment), logger: logger)
}

/// Every tool `config` offers: its own (handlers, shell, workspace) and what its MCP servers list now. A server that
/// cannot be listed, or a tool whose name is taken, is logged and left out; the rest are offered.
func makeRegistry(_ config: ToolWorkerConfig, mcp: MCPToolSource, logger: Logger) async -> ToolRegistry {
    let own = config.registry
    let listing = await mcp.list(config.mcpServers, sandboxHost: config.sandboxHost, taken: Set(own.names))
    for problem in listing.problems { logger.error("\(config.file): \(problem)") }
    if !listing.executors.isEmpty {
        logger.info("MCP tools listed", metadata: ["tools": "\(listing.executors.map(\.name).joined(separator: ","))"])
    }
    return ToolRegistry(executors: own.executors + listing.executors)
}

/// For a command that only looks (`check-config`, `tools`): the MCP servers started, listed once, and stopped;
/// what could not be listed is in the listing's problems, for the command to say.
func listMCPToolsOnce(_ config: ToolWorkerConfig) async -> MCPToolSource.Listing {
    let mcp = makeMCPSource(logger: Logger(label: "toolworker") { _ in SwiftLogNoOpLogHandler() })
    let listing = await mcp.list(config.mcpServers, sandboxHost: config.sandboxHost, taken: Set(config.registry.names))
    await mcp.shutdown()
    return listing
}

/// Before the first call: the control groups a dead daemon's calls left (with what still runs in them) are swept.
func sweepStaleSandboxes(_ config: ToolWorkerConfig, logger: Logger) {
    guard let host = config.sandboxHost else { return }
    let swept = host.sweepStaleCalls()
    if swept > 0 { logger.notice("killed what calls of a stopped daemon left running in their sandboxes", metadata: ["groups": "\(swept)"]) }
}
