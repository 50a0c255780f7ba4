import WireFormat

/// What the model is told about a tool, in no protocol's shape: each backend turns it into its own tool definition
/// (a flat Responses function tool, an Assistants `function` tool). The dispatcher's registry is its one source, so
/// the tools offered and the tools run are always the same set.
public struct ToolDefinition: Sendable, Equatable {
    public var name: String
    public var description: String?
    /// JSON Schema of the arguments; `nil` offers an object with no declared properties.
    public var parameters: JSONValue?
    /// A function tool, or a custom tool taking free-form input.
    public var kind: ToolKind
    /// A custom tool's input format (`{"type": "text"}`, a grammar), as the API takes it; `nil` for any text.
    public var format: JSONValue?

    public init(
        name: String, description: String? = nil, parameters: JSONValue? = nil, kind: ToolKind = .function, format: JSONValue? = nil
    ) {
        self.name = name
        self.description = description
        self.parameters = parameters
        self.kind = kind
        self.format = format
    }
}
