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

/// How a tool takes its input: JSON arguments against a schema (`function`), any text (`custom`, the Responses API's
/// free-form tools, answered by `custom_tool_call_output`), or the Responses API's shell actions (`shell`: a list of
/// commands, answered by `shell_call_output`; `local_shell`: one argv, answered by `local_shell_call_output`). A
/// shell call's ``ToolCall/arguments`` are its `action` object as JSON.
public enum ToolKind: String, Sendable, CaseIterable {
    case function
    case custom
    case shell
    case localShell = "local_shell"
    /// The Responses `apply_patch` tool: one file operation (create, update with a V4A diff, delete), answered by
    /// `apply_patch_call_output`.
    case applyPatch = "apply_patch"

    /// Whether calls of this kind carry shell actions, run only by a configured shell.
    public var isShell: Bool { self == .shell || self == .localShell }

    /// Whether the call's arguments are an object of the item (`action`, `operation`) rather than a text field.
    public var carriesObject: Bool { isShell || self == .applyPatch }
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
