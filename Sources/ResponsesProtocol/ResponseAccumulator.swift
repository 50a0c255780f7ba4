import WireFormat
import WorkModel

/// Accumulates a Responses stream into a snapshot of the response and its output items, the way the official
/// SDKs' `ResponseStreamState` does, but never throwing: a delta for an item or part never announced makes a stub
/// and records an anomaly.
///
/// Text and arguments grow in place (Swift strings inside arrays of structs), so a long answer costs linear time;
/// the JSON snapshot is built only when asked for. Events are applied once: one whose `sequence_number` is not
/// above the last applied (a resumed stream replaying) is skipped.
public struct ResponseAccumulator: Sendable {
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
    /// What did not fit (deltas for unknown items, for example).
    public private(set) var anomalies: [String] = []

    public init() {}

    /// Applies `event`; `false` when it was skipped as already applied (a replayed sequence number).
    @discardableResult
    public mutating func apply(_ event: ResponseEvent) -> Bool {
        if let sequence = event.sequenceNumber {
            if let last = lastSequenceNumber, sequence <= last { return false }
            lastSequenceNumber = sequence
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
        case .error, .unknown, .malformed:
            break
        }
        return true
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

    /// The function calls of the current response (`type: function_call`), by `call_id`.
    public var functionCalls: [ToolCall] {
        items.compactMap { item -> ToolCall? in
            guard let item, item.object["type"]?.stringValue == "function_call",
                let callID = item.object["call_id"]?.stringValue
            else { return nil }
            return ToolCall(
                id: callID, name: item.object["name"]?.stringValue ?? "",
                arguments: item.arguments ?? item.object["arguments"]?.stringValue ?? "")
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

    private mutating func place(_ index: Int) {
        guard index >= 0, index < 65_536 else { return }
        while items.count <= index { items.append(nil) }
    }

    private mutating func withItem(_ index: Int, _ event: String, _ body: (inout Item) -> Void) {
        guard index >= 0, index < 65_536 else {
            anomalies.append("\(event): output_index \(index) out of range")
            return
        }
        place(index)
        if items[index] == nil {
            anomalies.append("\(event) for output_index \(index) before its item was added")
            items[index] = Item(object: [:])
        }
        body(&items[index]!)
    }

    private mutating func withPart(_ index: Int, _ part: Int, _ field: ResponseEvent.TextField, _ event: String, _ body: (inout Part) -> Void) {
        guard part >= 0, part < 65_536 else {
            anomalies.append("\(event): part index \(part) out of range")
            return
        }
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
        if let arguments = object["arguments"]?.stringValue {
            item.arguments = arguments
            object["arguments"] = nil
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
        if let arguments = item.arguments { object["arguments"] = .string(arguments) }
        return .object(object)
    }

    static func json(_ part: Part) -> JSONValue {
        var object = part.object
        if let text = part.text { object[part.textKey] = .string(text) }
        return .object(object)
    }
}
