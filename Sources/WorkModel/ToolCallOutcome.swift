import WireFormat
/// How one tool call ended: what the model is told (`output`) and what the audit log records.
public struct ToolCallOutcome: Sendable, Equatable {
    /// One of ``ToolCallState``'s final states.
    public typealias State = ToolCallState

    /// Why a call did not succeed, as recorded in `tool_calls.error`.
    public enum ErrorKind: String, Sendable {
        case unknownTool = "unknown_tool"
        case invalidArguments = "invalid_arguments"
        case nonzeroExit = "nonzero_exit"
        case killedBySignal = "killed_by_signal"
        case timeout
        /// The call went over its sandbox's memory limit (`limits.memory`) and the kernel killed it.
        case oom
        /// The tool's server failed the call (an MCP server that died, could not be reached, or broke the protocol).
        case serverFailed = "server_failed"
        /// The tool answered, saying it failed (an MCP result with `isError`).
        case toolError = "tool_error"
        case spawnFailed = "spawn_failed"
        case interrupted
        /// A person said no (`toolworker deny`).
        case approvalDenied = "approval_denied"
        /// No decision came before the loop's deadline.
        case approvalExpired = "approval_expired"
    }

    /// What ends an output cut at `bytes` (a handler's stdout, a command's, an MCP tool's text), for the model and
    /// the reader of the journal.
    public static func truncationMark(at bytes: Int) -> String { "\n[ToolWorker: output truncated at \(bytes) bytes]" }

    public var state: State
    public var error: ErrorKind?
    /// The text submitted as the tool output.
    public var output: String
    public var outputTruncated: Bool
    public var exitCode: Int?
    public var signal: Int?
    public var stderrTail: String?
    public var startedAt: Int64
    public var finishedAt: Int64

    public init(
        state: State, error: ErrorKind? = nil, output: String, outputTruncated: Bool = false, exitCode: Int? = nil,
        signal: Int? = nil, stderrTail: String? = nil, startedAt: Int64, finishedAt: Int64
    ) {
        self.state = state
        self.error = error
        self.output = output
        self.outputTruncated = outputTruncated
        self.exitCode = exitCode
        self.signal = signal
        self.stderrTail = stderrTail
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }
}
