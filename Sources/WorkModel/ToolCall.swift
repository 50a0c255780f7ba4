import WireFormat
/// A function call the model asks for, whatever the protocol that carried it.
public struct ToolCall: Sendable, Equatable {
    /// The server's call id (`call_…`), the key its output is submitted under.
    public var id: String
    public var name: String
    /// The arguments as the server sent them (JSON text, not necessarily valid); for a custom tool, its free-form
    /// input.
    public var arguments: String
    /// What kind of tool it calls: a function (JSON arguments) or a custom tool (free-form input).
    public var kind: ToolKind

    public init(id: String, name: String, arguments: String, kind: ToolKind = .function) {
        self.id = id
        self.name = name
        self.arguments = arguments
        self.kind = kind
    }
}

/// How a tool takes its input: JSON arguments against a schema (`function`), or any text (`custom`, the Responses
/// API's free-form tools, answered by `custom_tool_call_output`).
public enum ToolKind: String, Sendable, CaseIterable {
    case function
    case custom
}

/// An answer to one tool call, as it is submitted.
public struct ToolOutput: Sendable, Equatable {
    public var toolCallID: String
    public var output: String
    /// The kind of the call it answers (which output item carries it).
    public var kind: ToolKind

    public init(toolCallID: String, output: String, kind: ToolKind = .function) {
        self.toolCallID = toolCallID
        self.output = output
        self.kind = kind
    }
}
