import WireFormat
import WorkModel

/// The registered tools, by name: the one source of both the definitions every protocol backend offers the model
/// and the executors the dispatcher runs calls with, so the two never disagree (a reload swaps both at once).
public struct ToolRegistry: Sendable {
    /// Every tool, in registration (file) order.
    public let executors: [any ToolExecutor]

    /// A registry of these executors; a name registered twice keeps its first.
    public init(executors: [any ToolExecutor]) {
        var seen: Set<String> = []
        self.executors = executors.filter { seen.insert($0.name).inserted }
    }

    /// Shell handlers from the configuration's `tools:`.
    public init(_ tools: [ToolHandlerConfig]) {
        self.init(executors: tools.map { ShellToolExecutor($0) })
    }

    /// The executor of tool `name`, if one is registered.
    public func executor(for name: String) -> (any ToolExecutor)? { executors.first { $0.name == name } }
    public var names: [String] { executors.map(\.name) }
    /// What the model is offered: one definition per registered tool, in order.
    public var definitions: [ToolDefinition] { executors.map(\.definition) }
}
