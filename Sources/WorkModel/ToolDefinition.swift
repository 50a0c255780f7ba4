import WireFormat

/// What the model is told about a tool, in no protocol's shape: each backend turns it into its own tool definition
/// (a flat Responses function tool, an Assistants `function` tool). The dispatcher's registry is its one source, so
/// the tools offered and the tools run are always the same set.
public struct ToolDefinition: Sendable, Equatable {
    public var name: String
    public var description: String?
    /// JSON Schema of the arguments; `nil` offers an object with no declared properties.
    public var parameters: JSONValue?

    public init(name: String, description: String? = nil, parameters: JSONValue? = nil) {
        self.name = name
        self.description = description
        self.parameters = parameters
    }
}
