import WorkModel
import WireFormat
/// The registered tools, by name.
public struct ToolRegistry: Sendable {
    public let tools: [ToolHandlerConfig]

    public init(_ tools: [ToolHandlerConfig]) { self.tools = tools }

    public func handler(for name: String) -> ToolHandlerConfig? { tools.first { $0.name == name } }
    public var names: [String] { tools.map(\.name) }
    /// What the model is offered: one definition per registered tool, in file order.
    public var definitions: [ToolDefinition] {
        tools.map { ToolDefinition(name: $0.name, description: $0.description, parameters: $0.parameters) }
    }
}
