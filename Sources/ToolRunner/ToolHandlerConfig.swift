import WorkModel
import WireFormat
/// What to do with a call whose handler was running when the process died.
public enum RestartPolicy: String, Sendable, CaseIterable {
    /// Run the handler again (it is safe to repeat).
    case rerun
    /// Never run it twice: answer the model with an "interrupted" error output.
    case fail
}

/// A registered tool: the handler that answers its calls, and what the assistant is told about it.
public struct ToolHandlerConfig: Sendable, Equatable {
    public var name: String
    /// The argv to run, never through a shell; `command[0]` is an absolute path.
    public var command: [String]
    public var timeout: Duration = .seconds(30)
    /// Output above this many bytes is cut, with a marker.
    public var maxOutputBytes: Int = 65_536
    /// The ceiling of `max_output_bytes`: 16 MiB (the output is held in memory, stored and submitted whole).
    public static let maximumOutputBytes = 16 * 1024 * 1024
    /// Extra environment for the handler (on top of PATH, LANG and the TOOLWORKER_* variables).
    public var environment: [String: String] = [:]
    public var workingDirectory: String?
    public var onRestart: RestartPolicy = .rerun
    public var description: String?
    /// JSON Schema of the arguments, published by `sync-tools`.
    public var parameters: JSONValue?
    /// `type`: `function` (JSON arguments) or `custom` (Responses: free-form input, given raw on stdin).
    public var kind: ToolKind = .function
    /// `approval`: when a call waits for a person's word before its handler starts.
    public var approval: ApprovalRule = .never
    /// `format` of a custom tool (`{type: text}`, `{type: grammar, syntax: lark, definition: …}`).
    public var format: JSONValue?
    /// `limits`: the sandbox each call runs in (empty: none).
    public var limits = ToolLimits()

    public init(name: String, command: [String]) {
        self.name = name
        self.command = command
    }

    /// The assistant-side function tool definition (`{"type":"function","function":{...}}`).
    public var functionDefinition: JSONValue {
        var function: JSONObject = ["name": .string(name)]
        if let description { function["description"] = .string(description) }
        function["parameters"] = parameters ?? ["type": "object", "properties": [:]]
        return ["type": "function", "function": .object(function)]
    }
}
