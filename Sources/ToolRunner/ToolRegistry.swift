import WorkModel
import WireFormat
/// The registered tools, by name.
public struct ToolRegistry: Sendable {
    public let tools: [ToolHandlerConfig]

    public init(_ tools: [ToolHandlerConfig]) { self.tools = tools }

    public func handler(for name: String) -> ToolHandlerConfig? { tools.first { $0.name == name } }
    public var names: [String] { tools.map(\.name) }
}
