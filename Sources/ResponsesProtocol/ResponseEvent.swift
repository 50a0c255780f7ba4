import WireFormat

/// One event of a Responses API stream, decoded: its name (the frame's `event:` or the data's `type`), its JSON,
/// its `sequence_number`, and what the worker makes of it. Like the Assistants decoder it never throws: an event
/// this build does not know is `.unknown`, a frame that is not JSON `.malformed`; both are kept for the audit.
public struct ResponseEvent: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// `response.created`, `.queued`, `.in_progress`, `.completed`, `.incomplete`, `.failed`, `.cancelled`:
        /// the whole response object.
        case lifecycle(JSONObject)
        case outputItemAdded(index: Int, item: JSONObject)
        case outputItemDone(index: Int, item: JSONObject)
        case contentPartAdded(index: Int, part: Int, value: JSONObject)
        case contentPartDone(index: Int, part: Int, value: JSONObject)
        /// A text delta (`output_text`, `refusal`, `reasoning_text`, `reasoning_summary_text`): append `delta` to
        /// `field` of the part (or summary entry) at `part`.
        case textDelta(index: Int, part: Int, field: TextField, delta: String)
        /// The final text of such a part.
        case textDone(index: Int, part: Int, field: TextField, text: String)
        case argumentsDelta(index: Int, delta: String)
        case argumentsDone(index: Int, arguments: String)
        case reasoningSummaryPartAdded(index: Int, summary: Int, value: JSONObject)
        /// The `error` event (flat, or with an `error` object inside).
        case error(code: String?, message: String)
        case unknown
        case malformed(reason: String)
        /// `data: [DONE]`, which LiteLLM, vLLM and others send after the last event: the stream's end marker.
        case done
    }

    /// Where a text delta goes.
    public enum TextField: String, Sendable, Equatable {
        /// `content[part].text`
        case outputText
        /// `content[part].refusal`
        case refusal
        /// `content[part].text` of a reasoning item
        case reasoningText
        /// `summary[part].text` of a reasoning item
        case reasoningSummary
    }

    /// The event name as sent (the frame's `event:` line, else the data's `type`).
    public var name: String
    /// The frame's raw data text.
    public var data: String
    /// Byte offset of the frame in its HTTP body.
    public var offset: Int
    public var sequenceNumber: Int?
    public var kind: Kind

    public init(name: String, data: String, offset: Int, sequenceNumber: Int?, kind: Kind) {
        self.name = name
        self.data = data
        self.offset = offset
        self.sequenceNumber = sequenceNumber
        self.kind = kind
    }

    /// Whether the event is a delta (buffered briefly by the journal) rather than a lifecycle or item event.
    public var isDelta: Bool {
        switch kind {
        case .textDelta, .argumentsDelta: return true
        default: return false
        }
    }
}

/// Turns SSE frames into ``ResponseEvent``s.
public enum ResponseEventDecoder {
    public static func decode(_ frame: SSEFrame) -> ResponseEvent {
        if let event = decodeDelta(frame) { return event }
        if frame.data == "[DONE]" {
            return ResponseEvent(name: frame.event ?? "done", data: frame.data, offset: frame.offset, sequenceNumber: nil, kind: .done)
        }
        let json: JSONValue
        do {
            json = try JSONValue(parsing: frame.data)
        } catch {
            let name = frame.event ?? "message"
            return ResponseEvent(
                name: name, data: frame.data, offset: frame.offset, sequenceNumber: nil,
                kind: name == "error" ? .error(code: nil, message: frame.data) : .malformed(reason: "\(error)"))
        }
        let name = frame.event ?? json["type"]?.stringValue ?? "message"
        let sequence = json["sequence_number"]?.intValue.map(Int.init)
        return ResponseEvent(name: name, data: frame.data, offset: frame.offset, sequenceNumber: sequence, kind: classify(name, json))
    }

    /// A text or arguments delta read without a JSON tree (``ResponseDeltaScanner``), or `nil` for the full path.
    /// Gives exactly what ``classify(_:_:)`` gives for the same frame.
    static func decodeDelta(_ frame: SSEFrame) -> ResponseEvent? {
        if let event = frame.event, deltaKind(event) == nil { return nil }
        guard let members = ResponseDeltaScanner.scan(frame.data) else { return nil }
        let name = frame.event ?? members.type ?? "message"
        guard let deltaKind = deltaKind(name) else { return nil }
        let index = members.outputIndex.map(Int.init) ?? 0
        let part = (members.contentIndex ?? members.summaryIndex).map(Int.init) ?? 0
        let delta = members.delta ?? ""
        let kind: ResponseEvent.Kind
        switch deltaKind {
        case .arguments: kind = .argumentsDelta(index: index, delta: delta)
        case .text(let field): kind = .textDelta(index: index, part: part, field: field, delta: delta)
        }
        return ResponseEvent(
            name: name, data: frame.data, offset: frame.offset, sequenceNumber: members.sequenceNumber.map(Int.init), kind: kind)
    }

    private enum DeltaKind {
        case text(ResponseEvent.TextField)
        case arguments
    }

    private static func deltaKind(_ name: String) -> DeltaKind? {
        switch name {
        case "response.output_text.delta": return .text(.outputText)
        case "response.refusal.delta": return .text(.refusal)
        case "response.reasoning_text.delta": return .text(.reasoningText)
        case "response.reasoning_summary_text.delta": return .text(.reasoningSummary)
        case "response.function_call_arguments.delta", "response.custom_tool_call_input.delta": return .arguments
        default: return nil
        }
    }

    static func classify(_ name: String, _ json: JSONValue) -> ResponseEvent.Kind {
        guard let object = json.objectValue else { return .malformed(reason: "data is not a JSON object") }
        let index = object["output_index"]?.intValue.map(Int.init) ?? 0
        let part = (object["content_index"] ?? object["summary_index"])?.intValue.map(Int.init) ?? 0
        switch name {
        case "response.created", "response.queued", "response.in_progress", "response.completed", "response.incomplete",
            "response.failed", "response.cancelled":
            guard let response = object["response"]?.objectValue else { return .malformed(reason: "\(name) without a response object") }
            return .lifecycle(response)
        case "response.output_item.added", "response.output_item.done":
            guard let item = object["item"]?.objectValue else { return .malformed(reason: "\(name) without an item") }
            return name.hasSuffix("added") ? .outputItemAdded(index: index, item: item) : .outputItemDone(index: index, item: item)
        case "response.content_part.added", "response.content_part.done":
            guard let value = object["part"]?.objectValue else { return .malformed(reason: "\(name) without a part") }
            return name.hasSuffix("added")
                ? .contentPartAdded(index: index, part: part, value: value) : .contentPartDone(index: index, part: part, value: value)
        case "response.reasoning_summary_part.added":
            guard let value = object["part"]?.objectValue else { return .malformed(reason: "\(name) without a part") }
            return .reasoningSummaryPartAdded(index: index, summary: part, value: value)
        case "response.function_call_arguments.delta", "response.custom_tool_call_input.delta":
            return .argumentsDelta(index: index, delta: object["delta"]?.stringValue ?? "")
        case "response.function_call_arguments.done":
            return .argumentsDone(index: index, arguments: object["arguments"]?.stringValue ?? "")
        case "response.custom_tool_call_input.done":
            return .argumentsDone(index: index, arguments: object["input"]?.stringValue ?? "")
        case "error":
            let inner = object["error"]?.objectValue ?? object
            return .error(
                code: inner["code"]?.stringValue,
                message: inner["message"]?.stringValue ?? JSONValue.object(object).serialized())
        default:
            for (prefix, field) in [
                ("response.output_text.", ResponseEvent.TextField.outputText), ("response.refusal.", .refusal),
                ("response.reasoning_text.", .reasoningText), ("response.reasoning_summary_text.", .reasoningSummary),
            ] where name.hasPrefix(prefix) {
                let suffix = name.dropFirst(prefix.count)
                if suffix == "delta" { return .textDelta(index: index, part: part, field: field, delta: object["delta"]?.stringValue ?? "") }
                if suffix == "done" {
                    let text = object[field == .refusal ? "refusal" : "text"]?.stringValue ?? ""
                    return .textDone(index: index, part: part, field: field, text: text)
                }
            }
            return .unknown
        }
    }
}

/// A Responses event stream that broke: the caller treats what it has as partial and reconciles.
public enum ResponseStreamError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The body ended inside a frame; its bytes were dropped.
    case endedMidFrame(pendingBytes: Int)
    case frame(SSEError)

    public var description: String {
        switch self {
        case .endedMidFrame(let pending): return "event stream ended inside an event (\(pending) bytes dropped)"
        case .frame(let error): return error.description
        }
    }
}
