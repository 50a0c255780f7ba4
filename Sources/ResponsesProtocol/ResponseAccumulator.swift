import WireFormat
import WorkModel

/// Accumulates a Responses stream into a snapshot of the response and its output items, the way the official
/// SDKs' `ResponseStreamState` does, but never throwing: a delta for an item or part never announced makes a stub
/// and records an anomaly.
///
/// Text and arguments grow in place (Swift strings inside arrays of structs), so a long answer costs linear time;
/// the JSON snapshot is built only when asked for.
///
/// Sequence numbers: on a stream resumed with `starting_after`, an event whose `sequence_number` is not above the
/// last applied is a replay and is skipped. On a fresh stream every event is applied (servers such as LiteLLM number
/// some events and not others, or restart their numbering); a number that does not increase is noted as an
/// anomaly, never a reason to drop the event.
///
/// Indices are checked before anything is allocated for them: `output_index`, `content_index` and
/// `summary_index` must be at least 0 and at most ``indexSlack`` past the entries seen so far. Anything else is a
/// protocol error (``protocolError``): the stream cannot be trusted and the loop must end, and no allocation is ever
/// proportional to an index a server sent.
public struct ResponseAccumulator: Sendable {
    /// How far past the entries seen an index may point (an item announced out of order).
    public static let indexSlack = 16
    struct Part: Sendable {
        var object: JSONObject
        /// The growing text, under `object[textKey]` in the snapshot.
        var text: String?
        var textKey = "text"
    }

    struct Item: Sendable {
        var object: JSONObject
        var content: [Part] = []
        var summary: [Part] = []
        var arguments: String?
    }

    /// The response object of the latest lifecycle event (without `output`).
    public private(set) var base: JSONObject?
    private var items: [Item?] = []
    /// The highest `sequence_number` applied.
    public private(set) var lastSequenceNumber: Int?
    /// What did not fit (deltas for unknown items, sequence numbers that went back, for example).
    public private(set) var anomalies: [String] = []
    /// The first event that broke the protocol past repair (an index out of range), in words. Once set, further
    /// events are not applied.
    public private(set) var protocolError: String?
    /// Whether the current stream is a resumed one (`starting_after`), where a sequence number not above the last
    /// is a replay.
    public private(set) var isResumedStream = false

    public init() {}

    /// What ``apply(_:)`` did with an event.
    public enum Application: Sendable, Equatable {
        case applied
        /// Applied, but its `sequence_number` did not increase on a live stream: `note` says so (also in
        /// ``anomalies``).
        case appliedOutOfOrder(note: String)
        /// A replay on a resumed stream, already applied.
        case replayed
        /// It (or an earlier event) broke the protocol: see ``protocolError``.
        case rejected
    }

    /// Applies `event`; `false` when it was not applied (a replay on a resumed stream, or a protocol error).
    @discardableResult
    public mutating func apply(_ event: ResponseEvent) -> Bool {
        switch applying(event) {
        case .applied, .appliedOutOfOrder: return true
        case .replayed, .rejected: return false
        }
    }

    /// Applies `event` and says how.
    public mutating func applying(_ event: ResponseEvent) -> Application {
        guard protocolError == nil else { return .rejected }
        var result = Application.applied
        if let sequence = event.sequenceNumber {
            if let last = lastSequenceNumber, sequence <= last {
                if isResumedStream { return .replayed }
                let note = "\(event.name): sequence_number \(sequence) after \(last) (numbers did not increase)"
                anomalies.append(note)
                result = .appliedOutOfOrder(note: note)
            } else {
                lastSequenceNumber = sequence
            }
        }
        if let problem = Self.indexProblem(event.kind, items: items) {
            protocolError = "\(event.name) at stream byte \(event.offset): \(problem)"
            return .rejected
        }
        switch event.kind {
        case .lifecycle(let response):
            var response = response
            let output = response["output"]?.arrayValue ?? []
            response["output"] = nil
            if base?["id"] != nil, response["id"] != base?["id"] {
                // A new response (the next round): its output starts empty.
                items = []
            }
            base = response
            // The terminal object is the result (SDK): take its output when it carries one.
            if !output.isEmpty {
                items = output.map { $0.objectValue.map(Self.item) }
            }
        case .outputItemAdded(let index, let item), .outputItemDone(let index, let item):
            place(index)
            items[index] = Self.item(item)
        case .contentPartAdded(let index, let part, let value), .contentPartDone(let index, let part, let value):
            withItem(index, event.name) { item in
                while item.content.count <= part { item.content.append(Part(object: [:])) }
                item.content[part] = Self.part(value)
            }
        case .reasoningSummaryPartAdded(let index, let summary, let value):
            withItem(index, event.name) { item in
                while item.summary.count <= summary { item.summary.append(Part(object: [:])) }
                item.summary[summary] = Self.part(value)
            }
        case .textDelta(let index, let part, let field, let delta):
            withPart(index, part, field, event.name) { Self.append(delta, to: &$0.text) }
        case .textDone(let index, let part, let field, let text):
            withPart(index, part, field, event.name) { $0.text = text }
        case .argumentsDelta(let index, let delta):
            withItem(index, event.name) { Self.append(delta, to: &$0.arguments) }
        case .argumentsDone(let index, let arguments):
            withItem(index, event.name) { $0.arguments = arguments }
        case .error, .unknown, .malformed, .done:
            break
        }
        if let problem = callProblem(event.kind) {
            protocolError = "\(event.name) at stream byte \(event.offset): \(problem)"
            return .rejected
        }
        return result
    }

    /// A function call that can never be answered: its outputs are keyed by `call_id`, so a finished call without one
    /// (in `output_item.done` or a terminal response's `output`) breaks the loop.
    func callProblem(_ kind: ResponseEvent.Kind) -> String? {
        let finished: [JSONObject]
        switch kind {
        case .outputItemDone(_, let item): finished = [item]
        case .lifecycle(let response) where response["status"]?.stringValue == "completed":
            finished = items.compactMap { $0?.object }
        default: return nil
        }
        for item in finished where Self.callKind(item) != nil {
            guard let callID = item["call_id"]?.stringValue, !callID.isEmpty else {
                return "\(item["type"]?.stringValue ?? "call") \(item["name"]?.stringValue ?? "?") has no call_id"
            }
        }
        return nil
    }

    /// Why the indices of `kind` cannot be applied to `items`, or `nil` when they can.
    static func indexProblem(_ kind: ResponseEvent.Kind, items: [Item?]) -> String? {
        func check(_ name: String, _ value: Int, count: Int) -> String? {
            if value < 0 { return "\(name) \(value) is negative" }
            if value >= count + indexSlack { return "\(name) \(value) is far past the \(count) seen" }
            return nil
        }
        let index: Int
        var part: (name: String, value: Int, summary: Bool)?
        switch kind {
        case .outputItemAdded(let i, _), .outputItemDone(let i, _), .argumentsDelta(let i, _), .argumentsDone(let i, _):
            index = i
        case .contentPartAdded(let i, let p, _), .contentPartDone(let i, let p, _):
            index = i
            part = ("content_index", p, false)
        case .reasoningSummaryPartAdded(let i, let p, _):
            index = i
            part = ("summary_index", p, true)
        case .textDelta(let i, let p, let field, _), .textDone(let i, let p, let field, _):
            index = i
            part = (field == .reasoningSummary ? "summary_index" : "content_index", p, field == .reasoningSummary)
        case .lifecycle, .error, .unknown, .malformed, .done:
            return nil
        }
        if let problem = check("output_index", index, count: items.count) { return problem }
        guard let part else { return nil }
        let existing = items.indices.contains(index) ? items[index] : nil
        let count = part.summary ? (existing?.summary.count ?? 0) : (existing?.content.count ?? 0)
        return check(part.name, part.value, count: count)
    }

    // MARK: Reading

    /// The response as accumulated: the latest lifecycle object with its `output` items.
    public var response: JSONValue? {
        guard var object = base else { return nil }
        object["output"] = .array(outputItems)
        return .object(object)
    }

    /// The output items as accumulated.
    public var outputItems: [JSONValue] { items.compactMap { $0.map(Self.json) } }

    /// The calls of the current response a tool answers: `function_call` (JSON arguments) and `custom_tool_call`
    /// (free-form `input`), by `call_id`.
    public var functionCalls: [ToolCall] {
        items.compactMap { item -> ToolCall? in
            guard let item else { return nil }
            return Self.call(item.object, arguments: item.arguments)
        }
    }

    /// The call an output item makes (its arguments, input or action), or `nil` for an item that is not a call.
    public static func call(_ object: JSONObject, arguments: String? = nil) -> ToolCall? {
        guard let kind = callKind(object), let callID = object["call_id"]?.stringValue else { return nil }
        if kind.carriesObject {
            // A shell action or a patch operation is an object: its JSON is the call's arguments, and its tool is the
            // configured shell or workspace.
            let payload = object[kind == .applyPatch ? "operation" : "action"]
            return ToolCall(id: callID, name: kind.rawValue, arguments: payload.map { $0.serialized() } ?? "{}", kind: kind)
        }
        let input = arguments ?? argumentsKey(kind).flatMap { object[$0]?.stringValue } ?? ""
        return ToolCall(id: callID, name: object["name"]?.stringValue ?? "", arguments: input, kind: kind)
    }

    /// The kind of tool an output item calls, or `nil` for an item that is not such a call.
    public static func callKind(_ item: JSONObject) -> ToolKind? {
        switch item["type"]?.stringValue {
        case "function_call": return .function
        case "custom_tool_call": return .custom
        case "shell_call": return .shell
        case "local_shell_call": return .localShell
        case "apply_patch_call": return .applyPatch
        default: return nil
        }
    }

    /// Where an item of `kind` keeps its input as text: `arguments` (functions), `input` (custom tools); `nil` for a
    /// shell call, whose `action` is an object.
    static func argumentsKey(_ kind: ToolKind) -> String? {
        switch kind {
        case .function: return "arguments"
        case .custom: return "input"
        case .shell, .localShell, .applyPatch: return nil
        }
    }

    /// The text of the message items' `output_text` parts.
    public var outputText: String? {
        let texts = items.compactMap { item -> String? in
            guard let item, item.object["type"]?.stringValue == "message" else { return nil }
            let parts = item.content.filter { $0.object["type"]?.stringValue == "output_text" }.compactMap(\.text)
            return parts.isEmpty ? nil : parts.joined()
        }
        return texts.isEmpty ? nil : texts.joined(separator: "\n")
    }

    /// A new response of the chain is about to stream: its `sequence_number`s start again at 0.
    public mutating func startNextResponse() {
        lastSequenceNumber = nil
        isResumedStream = false
    }

    /// A stream resumed after the last applied event is about to be read: numbers not above it are replays.
    public mutating func startResumedStream() {
        isResumedStream = true
    }

    /// Replaces the snapshot with a response read back from the server (after a stream that ended early).
    public mutating func absorb(response: JSONObject) {
        apply(ResponseEvent(name: "response.retrieved", data: "", offset: 0, sequenceNumber: nil, kind: .lifecycle(response)))
    }

    // MARK: Building

    /// Appends in place: `text = (text ?? "") + delta` would copy the whole text for every delta (quadratic).
    private static func append(_ delta: String, to text: inout String?) {
        if text == nil {
            text = delta
        } else {
            text!.append(delta)
        }
    }

    /// Makes room for `index` (checked by ``indexProblem(_:items:)`` first, so at most ``indexSlack`` entries).
    private mutating func place(_ index: Int) {
        while items.count <= index { items.append(nil) }
    }

    private mutating func withItem(_ index: Int, _ event: String, _ body: (inout Item) -> Void) {
        place(index)
        if items[index] == nil {
            anomalies.append("\(event) for output_index \(index) before its item was added")
            items[index] = Item(object: [:])
        }
        body(&items[index]!)
    }

    private mutating func withPart(_ index: Int, _ part: Int, _ field: ResponseEvent.TextField, _ event: String, _ body: (inout Part) -> Void) {
        withItem(index, event) { item in
            if field == .reasoningSummary {
                while item.summary.count <= part { item.summary.append(Part(object: ["type": "summary_text"])) }
                body(&item.summary[part])
            } else {
                while item.content.count <= part { item.content.append(Part(object: [:])) }
                if field == .refusal { item.content[part].textKey = "refusal" }
                body(&item.content[part])
            }
        }
    }

    static func item(_ object: JSONObject) -> Item {
        var object = object
        var item = Item(object: object)
        if let content = object["content"]?.arrayValue {
            item.content = content.map { Self.part($0.objectValue ?? [:]) }
            object["content"] = nil
        }
        if let summary = object["summary"]?.arrayValue {
            item.summary = summary.map { Self.part($0.objectValue ?? [:]) }
            object["summary"] = nil
        }
        if let key = argumentsKey(callKind(object) ?? .function), let arguments = object[key]?.stringValue {
            item.arguments = arguments
            object[key] = nil
        }
        item.object = object
        return item
    }

    static func part(_ object: JSONObject) -> Part {
        var object = object
        var part = Part(object: object)
        if let refusal = object["refusal"]?.stringValue {
            part.text = refusal
            part.textKey = "refusal"
            object["refusal"] = nil
        } else if let text = object["text"]?.stringValue {
            part.text = text
            object["text"] = nil
        }
        part.object = object
        return part
    }

    static func json(_ item: Item) -> JSONValue {
        var object = item.object
        if !item.content.isEmpty || item.object["type"]?.stringValue == "message" {
            object["content"] = .array(item.content.map(json))
        }
        if !item.summary.isEmpty { object["summary"] = .array(item.summary.map(json)) }
        if let arguments = item.arguments, let key = argumentsKey(callKind(item.object) ?? .function) { object[key] = .string(arguments) }
        return .object(object)
    }

    static func json(_ part: Part) -> JSONValue {
        var object = part.object
        if let text = part.text { object[part.textKey] = .string(text) }
        return .object(object)
    }
}
