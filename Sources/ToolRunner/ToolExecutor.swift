import WireFormat
import WorkModel

/// What a call's execution may know besides the call itself.
public struct ToolExecution: Sendable {
    /// Whose call it is (the run, the thread), as a handler sees it.
    public var context: ToolCallContext
    /// The latest the call may run (the loop's `expires_at` less a margin): a tool's own time-out is shortened to fit.
    public var deadline: ContinuousClock.Instant?

    public init(context: ToolCallContext, deadline: ContinuousClock.Instant? = nil) {
        self.context = context
        self.deadline = deadline
    }
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
