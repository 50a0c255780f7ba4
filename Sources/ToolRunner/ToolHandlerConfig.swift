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
    /// `timeout`, `max_output_bytes`, `on_restart` (a handler is assumed safe to run again), `approval`, `limits`.
    public var policy = ToolPolicy(timeout: .seconds(30), maxOutputBytes: 65_536, onRestart: .rerun)
    /// Extra environment for the handler (on top of PATH, LANG and the TOOLWORKER_* variables).
    public var environment: [String: String] = [:]
    public var workingDirectory: String?
    public var description: String?
    /// JSON Schema of the arguments, published by `sync-tools`.
    public var parameters: JSONValue?
    /// `type`: `function` (JSON arguments) or `custom` (Responses: free-form input, given raw on stdin).
    public var kind: ToolKind = .function
    /// `format` of a custom tool (`{type: text}`, `{type: grammar, syntax: lark, definition: …}`).
    public var format: JSONValue?

    public init(name: String, command: [String]) {
        self.name = name
        self.command = command
    }

    // The policy's settings, read and written in place.
    public var timeout: Duration { get { policy.timeout } set { policy.timeout = newValue } }
    public var maxOutputBytes: Int { get { policy.maxOutputBytes } set { policy.maxOutputBytes = newValue } }
    public var onRestart: RestartPolicy { get { policy.onRestart } set { policy.onRestart = newValue } }
    public var approval: ApprovalRule { get { policy.approval } set { policy.approval = newValue } }
    public var limits: ToolLimits { get { policy.limits } set { policy.limits = newValue } }

    /// The assistant-side function tool definition (`{"type":"function","function":{...}}`).
    public var functionDefinition: JSONValue {
        var function: JSONObject = ["name": .string(name)]
        if let description { function["description"] = .string(description) }
        function["parameters"] = parameters ?? ["type": "object", "properties": [:]]
        return ["type": "function", "function": .object(function)]
    }
}
