import WireFormat
import WorkModel

/// The registered tools, by name: the one source of both the definitions every protocol backend offers the model
/// and the executors the dispatcher runs calls with, so the two never disagree (a reload swaps both at once).
public struct ToolRegistry: Sendable {
    /// Every tool, in registration (file) order.
    public let executors: [any ToolExecutor]
    /// The same executors by name.
    private let byName: [String: any ToolExecutor]

    /// A registry of these executors; a name registered twice keeps its first.
    public init(executors: [any ToolExecutor]) {
        var byName: [String: any ToolExecutor] = [:]
        self.executors = executors.filter { executor in
            guard byName[executor.name] == nil else { return false }
            byName[executor.name] = executor
            return true
        }
        self.byName = byName
    }

    /// Shell handlers from the configuration's `tools:`.
    public init(_ tools: [ToolHandlerConfig]) {
        self.init(executors: tools.map { ShellToolExecutor($0) })
    }

    /// The executor of tool `name`, if one is registered.
    public func executor(for name: String) -> (any ToolExecutor)? { byName[name] }
    public var names: [String] { executors.map(\.name) }
    /// What the model is offered: one definition per registered tool, in order.
    public var definitions: [ToolDefinition] { executors.map(\.definition) }
}

/// A call with the executor its tool's name resolves to in one registry (`nil`: no tool of that name): looked up
/// once when a round is answered and passed down to the journal, the plan, the dispatch and the metrics.
public struct ResolvedCall: Sendable {
    public let call: ToolCall
    public let executor: (any ToolExecutor)?

    public init(call: ToolCall, executor: (any ToolExecutor)?) {
        self.call = call
        self.executor = executor
    }
}

extension ToolRegistry {
    /// `call` with its executor in this registry.
    public func resolve(_ call: ToolCall) -> ResolvedCall { ResolvedCall(call: call, executor: executor(for: call.name)) }
}
