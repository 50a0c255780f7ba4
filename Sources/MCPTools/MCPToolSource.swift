import HTTPTransport
import Logging
import ToolRunner

/// The `mcp_servers:` of a configuration as a tool source: one connection per server, kept across reloads while
/// the server's configuration is unchanged; each server's tools listed (filtered by `allowed_tools`, named
/// `SERVER__TOOL`) and offered beside the configuration's own.
public actor MCPToolSource {
    /// The HTTP client of Streamable HTTP servers, made when the first one is configured.
    private var http: HTTPClient?
    let logger: Logger
    let baseEnvironment: [String: String]
    private var connections: [String: MCPServerConnection] = [:]

    /// - Parameter baseEnvironment: what every process the daemon starts gets (never the daemon's environment).
    public init(baseEnvironment: [String: String], logger: Logger) {
        self.baseEnvironment = baseEnvironment
        self.logger = logger
    }

    /// Connects to every server (starting stdio ones) and lists its tools. A server that cannot be listed offers
    /// nothing (said in `problems`) and the rest go on; a tool whose name is taken (`taken`, or by an earlier
    /// server) or not a valid name is left out, said too.
    public func list(_ servers: [MCPServerConfig], sandboxHost: SandboxHost?, taken: Set<String>) async -> ToolListing {
        var listing = ToolListing()
        var names = taken
        var kept: [String: MCPServerConnection] = [:]
        for server in servers {
            if let existing = connections[server.name], existing.configuration == server {
                kept[server.name] = existing
            } else {
                if case .http = server.transport, http == nil {
                    // A call's own time-out governs: an answer stream quiet for minutes while a tool works is fine.
                    var configuration = HTTPClientConfiguration()
                    configuration.idleTimeout = .seconds(86_400)
                    http = HTTPClient(configuration: configuration)
                }
                kept[server.name] = MCPServerConnection(server, sandboxHost: sandboxHost, http: http, baseEnvironment: baseEnvironment, logger: logger)
            }
        }
        // All servers are listed at once: a slow or hung one costs its own handshake deadline, not one per server
        // (serve tells systemd it is ready only after this). Each listing is a task of its own whose value is awaited
        // in the configuration's order (no task group: its results crossed tasks as an existential-carrying tuple,
        // which the release build of Swift 6.3 corrupted).
        let listings: [(server: MCPServerConfig, connection: MCPServerConnection, task: Task<ServerListing, Never>)] = servers.compactMap { server in
            guard let connection = kept[server.name] else { return nil }
            return (server, connection, Task { await ServerListing.of(connection) })
        }
        for (server, connection, task) in listings {
            let tools: [MCP.Tool]
            switch await task.value {
            case .listed(let listed): tools = listed
            case .failed(let reason):
                listing.problems.append(server.redacted("mcp_servers.\(server.name): its tools could not be listed: \(reason)"))
                continue
            }
            if tools.isEmpty {
                listing.problems.append("mcp_servers.\(server.name): the server lists no tools")
            }
            if let allowed = server.allowedTools {
                for missing in allowed where !tools.contains(where: { $0.name == missing }) {
                    listing.problems.append("mcp_servers.\(server.name).allowed_tools: the server has no tool '\(missing)'")
                }
            }
            for tool in tools where server.allowedTools?.contains(tool.name) ?? true {
                let name = server.qualifiedName(tool.name)
                guard MCPServerConfig.isValidToolName(name) else {
                    listing.problems.append("mcp_servers.\(server.name): tool '\(tool.name)' left out: '\(name)' is not 1 to 64 of A-Z a-z 0-9 _ . -")
                    continue
                }
                guard names.insert(name).inserted else {
                    listing.problems.append("mcp_servers.\(server.name): tool '\(tool.name)' refused: the name '\(name)' is already taken")
                    continue
                }
                listing.executors.append(MCPToolExecutor(server: connection, configuration: server, tool: tool))
            }
        }
        // Servers no longer configured (or configured differently) are stopped.
        for (name, connection) in connections where kept[name] !== connection { await connection.shutdown() }
        connections = kept
        return listing
    }

    /// What listing one server came to, as plain values (the error said in words).
    enum ServerListing: Sendable {
        case listed([MCP.Tool])
        case failed(String)

        static func of(_ connection: MCPServerConnection) async -> ServerListing {
            do { return .listed(try await connection.listTools()) } catch { return .failed("\(error)") }
        }
    }

    /// Stops every server.
    public func shutdown() async {
        for connection in connections.values { await connection.shutdown() }
        connections = [:]
    }
}

import MCP
