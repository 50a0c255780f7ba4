import Synchronization
import WireFormat
import WorkModel

/// What a call's execution may know besides the call itself.
public struct ToolExecution: Sendable {
    /// Whose call it is (the run, the thread), as a handler sees it.
    public var context: ToolCallContext
    /// The latest the call may run (the loop's `expires_at` less a margin): a tool's own time-out is shortened to fit.
    public var deadline: ContinuousClock.Instant?
    /// The W3C `traceparent` of the call's `execute_tool` span, when traces are exported: a handler gets it as
    /// `TRACEPARENT`, an MCP server as `params._meta.traceparent`.
    public var traceparent: String?
    /// What the tool source adds to the call's span (an MCP call's method, session and request id).
    public var spanNotes: SpanNotes?
    /// Where the call's output goes while it runs (a handler's stdout and stderr, an MCP server's progress), for
    /// the journal; never instead of the final output.
    public var liveOutput: (any LiveOutputSink)?

    public init(context: ToolCallContext, deadline: ContinuousClock.Instant? = nil) {
        self.context = context
        self.deadline = deadline
    }
}

/// Attributes a tool source notes for its call's `execute_tool` span while the call runs.
public final class SpanNotes: Sendable {
    private let notes = Mutex<[(String, String)]>([])

    public init() {}

    /// Notes `value` under `key` (`mcp.session.id`).
    public func note(_ key: String, _ value: String) { notes.withLock { $0.append((key, value)) } }

    /// Everything noted, in order.
    public var all: [(String, String)] { notes.withLock { $0 } }
}

/// One tool as a source provides it: what the model is told about it, and how one of its calls runs.
///
/// This is the seam every tool source implements: a shell handler (``ShellToolExecutor``) today; an MCP server's
/// tool, a sandboxed command, another source tomorrow, each one new type plus its registration in the
/// ``ToolRegistry``. The ``ToolDispatcher`` around it adds what every source shares: the registry lookup, the check
/// that arguments are JSON, the `concurrency.tool_calls` limit, and the plan after a crash (``onRestart``).
public protocol ToolExecutor: Sendable {
    /// What the model is offered (name, description, JSON Schema of the arguments).
    var definition: ToolDefinition { get }
    /// Its configuration's time-out, output cap, `on_restart`, approval rule and sandbox.
    var policy: ToolPolicy { get }
    /// How the journal names what ran (`tool_calls.handler`: a command line, a server and tool).
    var handlerDescription: String { get }
    /// What `toolworker tools --json` shows of the tool besides its policy (its command, its server, its folder).
    var listingDetails: JSONObject { get }
    /// Runs `call` to its outcome. Every way the tool can fail (time-out, a crash, a refusal) is an outcome with an
    /// error output for the model; the only error thrown is cancellation (a shutdown whose grace is over), which
    /// leaves the call `running` for ``onRestart`` to decide.
    /// - Parameter arguments: the call's arguments, checked to be JSON (`{}` for none).
    func execute(_ call: ToolCall, arguments: String, execution: ToolExecution) async throws(CancellationError) -> ToolCallOutcome
}

extension ToolExecutor {
    /// The tool's name (its definition's).
    public var name: String { definition.name }
    /// What a call interrupted by a crash gets at the next start: run again, or answered "interrupted".
    public var onRestart: RestartPolicy { policy.onRestart }
    /// When a call waits for a person's word (`toolworker approve`) before it runs.
    public var approval: ApprovalRule { policy.approval }
    public var listingDetails: JSONObject { [:] }
}

/// Which output of a running call a piece is.
public enum LiveOutputStream: String, Sendable {
    case stdout, stderr
    /// An MCP server's progress notification.
    case progress
}

/// Takes a running call's output as it arrives (the journal's partial-output events).
public protocol LiveOutputSink: Sendable {
    /// A piece of `stream`, as it arrived.
    func partial(_ stream: LiveOutputStream, _ bytes: [UInt8])
}
