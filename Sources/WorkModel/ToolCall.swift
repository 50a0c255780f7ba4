import WireFormat
/// A function call the model asks for, whatever the protocol that carried it.
public struct ToolCall: Sendable, Equatable {
    /// The server's call id (`call_…`), the key its output is submitted under.
    public var id: String
    public var name: String
    /// The arguments as the server sent them (JSON text, not necessarily valid).
    public var arguments: String

    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

/// An answer to one tool call, as it is submitted.
public struct ToolOutput: Sendable, Equatable {
    public var toolCallID: String
    public var output: String

    public init(toolCallID: String, output: String) {
        self.toolCallID = toolCallID
        self.output = output
    }
}
