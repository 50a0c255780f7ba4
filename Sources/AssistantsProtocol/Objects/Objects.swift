import WireFormat
import WorkModel
/// Typed, lenient views over the objects of the Assistants v2 API.
///
/// Each keeps the server's JSON untouched in `json` (for storage and for fields this build does not model) and
/// reads the fields the worker needs through computed properties, so an unexpected or missing field never
/// fails decoding.

/// A `thread` object (`thread.created`).
public struct AssistantThread: Sendable, Equatable {
    public var json: JSONValue
    public init(json: JSONValue) { self.json = json }
    public var id: String? { json["id"]?.stringValue }
}

/// A `thread.run` object.
public struct Run: Sendable, Equatable {
    public var json: JSONValue
    public init(json: JSONValue) { self.json = json }

    public var id: String? { json["id"]?.stringValue }
    public var threadID: String? { json["thread_id"]?.stringValue }
    public var assistantID: String? { json["assistant_id"]?.stringValue }
    public var status: RunStatus? { json["status"]?.stringValue.map(RunStatus.init(rawValue:)) }
    public var createdAt: Int64? { json["created_at"]?.intValue }
    /// Unix seconds after which the server expires the run; set once, not moved by submitting outputs.
    public var expiresAt: Int64? { json["expires_at"]?.intValue }
    public var lastError: JSONValue? { json["last_error"].flatMap { $0.isNull ? nil : $0 } }
    public var incompleteDetails: JSONValue? { json["incomplete_details"].flatMap { $0.isNull ? nil : $0 } }
    public var usage: JSONValue? { json["usage"].flatMap { $0.isNull ? nil : $0 } }
    public var metadata: JSONValue? { json["metadata"] }

    /// The function calls to answer when `status` is `requires_action`.
    public var requiredToolCalls: [RequiredToolCall] {
        guard let calls = json[path: "required_action.submit_tool_outputs.tool_calls"]?.arrayValue else { return [] }
        return calls.compactMap(ToolCall.init(requiredActionJSON:))
    }
}

/// One entry of `required_action.submit_tool_outputs.tool_calls`: a function call, as the worker sees every
/// protocol's.
public typealias RequiredToolCall = ToolCall

extension ToolCall {
    /// Reads `{"id", "function": {"name", "arguments"}}`; `nil` without an id.
    init?(requiredActionJSON json: JSONValue) {
        guard let id = json["id"]?.stringValue else { return nil }
        self.init(
            id: id, name: json[path: "function.name"]?.stringValue ?? "", arguments: json[path: "function.arguments"]?.stringValue ?? "")
    }
}

/// A `thread.run.step` object.
public struct RunStep: Sendable, Equatable {
    public var json: JSONValue
    public init(json: JSONValue) { self.json = json }
    public var id: String? { json["id"]?.stringValue }
    public var runID: String? { json["run_id"]?.stringValue }
    public var type: String? { json["type"]?.stringValue }
    public var status: String? { json["status"]?.stringValue }
}

/// A `thread.run.step.delta` object: the step id and a `delta` to accumulate.
public struct RunStepDelta: Sendable, Equatable {
    public var json: JSONValue
    public init(json: JSONValue) { self.json = json }
    public var id: String? { json["id"]?.stringValue }
    public var delta: JSONValue { json["delta"] ?? .object(JSONObject()) }
}

/// A `thread.message` object.
public struct Message: Sendable, Equatable {
    public var json: JSONValue
    public init(json: JSONValue) { self.json = json }
    public var id: String? { json["id"]?.stringValue }
    public var runID: String? { json["run_id"]?.stringValue }
    public var role: String? { json["role"]?.stringValue }
    public var status: String? { json["status"]?.stringValue }

    /// The text of every `text` content block, joined with blank lines.
    public var text: String {
        (json["content"]?.arrayValue ?? [])
            .compactMap { $0[path: "text.value"]?.stringValue }
            .joined(separator: "\n\n")
    }
}

