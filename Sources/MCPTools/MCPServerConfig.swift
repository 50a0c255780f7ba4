import ToolRunner

/// One entry of `mcp_servers:`: an MCP server whose tools are offered to the model as `SERVER__TOOL`.
public struct MCPServerConfig: Sendable, Equatable {
    /// How ToolWorker reaches the server.
    public enum Transport: Sendable, Equatable {
        /// A program started (and restarted when it dies) by the daemon, speaking JSON-RPC on its stdin/stdout.
        case stdio(command: [String], environment: [String: String], workingDirectory: String?)
        /// A Streamable HTTP endpoint; header values come from the configuration or from files (secrets).
        case http(url: String, headers: [String: String])
    }

    /// The server's name: the prefix of its tools' names (`[A-Za-z0-9_-]`).
    public var name: String
    public var transport: Transport
    /// `allowed_tools`: only these of the server's tools are offered; `nil`, all.
    public var allowedTools: [String]?
    /// `timeout` (one call), `max_output_bytes`, `on_restart` (a server's tool is not assumed safe to repeat: a call
    /// interrupted by a crash is answered "interrupted"), `approval`, and `limits`: the sandbox the stdio server runs
    /// in (the server as a whole: its memory, CPU, tasks, network, files).
    public var policy = ToolPolicy(timeout: .seconds(60), maxOutputBytes: 65_536, onRestart: .fail)
    /// `startup_timeout`: the longest a server may take to start and complete the MCP handshake.
    public var startupTimeout: Duration = .seconds(30)
    /// Values never to be stored or logged: the header values read from files (a server echoing one back has it
    /// replaced before the output is journaled).
    public var secrets: [String] = []
    /// The files those values were read from (hidden from every sandboxed call).
    public var secretFiles: [String] = []

    // The policy's settings, read and written in place.
    public var timeout: Duration { get { policy.timeout } set { policy.timeout = newValue } }
    public var maxOutputBytes: Int { get { policy.maxOutputBytes } set { policy.maxOutputBytes = newValue } }
    public var onRestart: RestartPolicy { get { policy.onRestart } set { policy.onRestart = newValue } }
    public var approval: ApprovalRule { get { policy.approval } set { policy.approval = newValue } }
    public var limits: ToolLimits { get { policy.limits } set { policy.limits = newValue } }

    /// `text` with every one of ``secrets`` replaced by `[REDACTED]` (an error a server sent, an echo of a header).
    public func redacted(_ text: String) -> String {
        secrets.reduce(text) { $1.isEmpty ? $0 : $0.replacingOccurrences(of: $1, with: "[REDACTED]") }
    }

    public init(name: String, transport: Transport) {
        self.name = name
        self.transport = transport
    }

    /// The name the model sees for the server's tool `tool`.
    public func qualifiedName(_ tool: String) -> String { "\(name)__\(tool)" }

    /// Whether a qualified name is one a model can be offered: 1 to 64 of `[A-Za-z0-9_.-]`.
    public static func isValidToolName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64
            && name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }
    }
}
