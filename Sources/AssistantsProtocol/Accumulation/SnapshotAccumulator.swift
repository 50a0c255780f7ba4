import WireFormat
/// Accumulates an Assistants v2 event stream into snapshots of the run, its messages, its run steps and the
/// tool calls inside them.
///
/// Lifecycle events (`created`, `in_progress`, `completed`, `failed`, …) replace an object's snapshot with the
/// server's object, which is authoritative; `delta` events merge into it with ``JSONValue/accumulate(_:)``.
/// Snapshots are keyed by object id, so one accumulator can follow a run across its original stream and every
/// submit-tool-outputs stream (the submit stream completes the step created before it).
public struct SnapshotAccumulator: Sendable {
    public private(set) var threadID: String?
    /// The last run object seen on any `thread.run.*` event.
    public private(set) var currentRun: Run?
    /// The run as of the last `requires_action` or terminal event (the SDKs' `finalRun()`).
    public private(set) var finalRun: Run?
    /// Message snapshots by id, in creation order.
    public private(set) var messages = JSONObject()
    /// Run step snapshots by id, in creation order.
    public private(set) var runSteps = JSONObject()
    /// Problems met while accumulating (a delta before its object was created, an out-of-bounds index, …).
    public private(set) var anomalies: [String] = []

    private var currentMessageID: String?
    private var currentContentIndex: Int?
    private var currentStepID: String?
    private var currentToolCallIndex: Int?

    public init() {}

    /// All message snapshots in creation order.
    public var finalMessages: [Message] { messages.map { Message(json: $0.value) } }
    /// All run step snapshots in creation order.
    public var finalRunSteps: [RunStep] { runSteps.map { RunStep(json: $0.value) } }

    /// The tool call snapshots of every `tool_calls` step, in step order then index order.
    public var toolCalls: [JSONValue] {
        runSteps.flatMap { ($0.value[path: "step_details.tool_calls"]?.arrayValue ?? []).filter { !$0.isNull } }
    }

    /// Applies one event.
    /// - Parameter helpers: whether to compute the granular ``StreamHelperEvent``s (skip it when nobody listens).
    /// - Returns: the granular events this event produced, in the SDKs' order.
    @discardableResult
    public mutating func apply(_ event: AssistantEvent, helpers: Bool = true) -> [StreamHelperEvent] {
        var out: [StreamHelperEvent] = []
        switch event {
        case .threadCreated(let thread):
            threadID = thread.id ?? threadID
        case .run(let kind, let run):
            currentRun = run
            if threadID == nil { threadID = run.threadID }
            switch kind {
            case .requiresAction, .cancelled, .failed, .completed, .expired, .incomplete:
                finalRun = run
                if helpers { finishToolCall(into: &out) }
            default: break
            }
        case .runStep(let kind, let step):
            applyRunStep(kind, step, helpers: helpers, into: &out)
        case .runStepDelta(let delta):
            applyRunStepDelta(delta, helpers: helpers, into: &out)
        case .message(let kind, let message):
            applyMessage(kind, message, helpers: helpers, into: &out)
        case .messageDelta(let delta):
            applyMessageDelta(delta, helpers: helpers, into: &out)
        case .error, .done, .unknown, .malformed:
            break
        }
        return out
    }

    // MARK: Run steps

    private mutating func applyRunStep(
        _ kind: RunStepEventKind, _ step: RunStep, helpers: Bool, into out: inout [StreamHelperEvent]
    ) {
        guard let id = step.id else {
            anomalies.append("run step event without an id")
            return
        }
        runSteps[id] = step.json
        guard helpers else { return }
        switch kind {
        case .created:
            currentStepID = id
            currentToolCallIndex = nil
            out.append(.runStepCreated(step))
        case .inProgress:
            break
        case .completed, .failed, .cancelled, .expired:
            if step.type == "tool_calls", currentStepID == id, let index = currentToolCallIndex,
                let call = step.json[path: "step_details.tool_calls"]?[index] ?? currentToolCall(id, index)
            {
                out.append(.toolCallDone(call))
            }
            if currentStepID == id {
                currentStepID = nil
                currentToolCallIndex = nil
            }
            out.append(.runStepDone(step))
        }
    }

    private mutating func applyRunStepDelta(_ delta: RunStepDelta, helpers: Bool, into out: inout [StreamHelperEvent]) {
        guard let id = delta.id else {
            anomalies.append("run step delta without an id")
            return
        }
        if runSteps[id] == nil {
            anomalies.append("run step delta for \(id) before its thread.run.step.created")
            runSteps[id] = ["id": .string(id), "object": "thread.run.step"]
        }
        let body = delta.delta
        runSteps.modifyValue(forKey: id) { snapshot in
            for anomaly in snapshot.accumulate(body) { anomalies.append("run step \(id): \(anomaly)") }
        }
        guard helpers else { return }
        let snapshot = RunStep(json: runSteps[id]!)
        out.append(.runStepDelta(delta: body, snapshot: snapshot))
        for callDelta in body[path: "step_details.tool_calls"]?.arrayValue ?? [] {
            guard let index = callDelta["index"]?.intValue.map(Int.init) else { continue }
            let callSnapshot = snapshot.json[path: "step_details.tool_calls"]?[index] ?? callDelta
            if currentStepID == id, currentToolCallIndex == index {
                out.append(.toolCallDelta(delta: callDelta, snapshot: callSnapshot))
            } else {
                finishToolCall(into: &out)
                currentStepID = id
                currentToolCallIndex = index
                out.append(.toolCallCreated(callSnapshot))
            }
        }
    }

    private func currentToolCall(_ stepID: String, _ index: Int) -> JSONValue? {
        runSteps[stepID]?[path: "step_details.tool_calls"]?[index]
    }

    private mutating func finishToolCall(into out: inout [StreamHelperEvent]) {
        if let stepID = currentStepID, let index = currentToolCallIndex, let call = currentToolCall(stepID, index) {
            out.append(.toolCallDone(call))
        }
        currentToolCallIndex = nil
    }

    // MARK: Messages

    private mutating func applyMessage(
        _ kind: MessageEventKind, _ message: Message, helpers: Bool, into out: inout [StreamHelperEvent]
    ) {
        guard let id = message.id else {
            anomalies.append("message event without an id")
            return
        }
        messages[id] = message.json
        guard helpers else { return }
        switch kind {
        case .created:
            currentMessageID = id
            currentContentIndex = nil
            out.append(.messageCreated(message))
        case .inProgress:
            break
        case .completed, .incomplete:
            if currentMessageID == id, let index = currentContentIndex,
                let block = message.json["content"]?[index], let text = block["text"]
            {
                out.append(.textDone(text: text, message: message))
            }
            if currentMessageID == id {
                currentMessageID = nil
                currentContentIndex = nil
            }
            out.append(.messageDone(message))
        }
    }

    private func openedContentIndices(messageID: String, content: JSONValue) -> Set<Int> {
        var opened: Set<Int> = []
        guard case .object(let message)? = messages[messageID] else { return opened }
        let blocks = message["content"]
        for block in content.arrayValue ?? [] {
            guard let index = block["index"]?.intValue.map(Int.init) else { continue }
            if blocks?[index] == nil || blocks?[index]?.isNull == true { opened.insert(index) }
        }
        return opened
    }

    private mutating func applyMessageDelta(_ delta: MessageDelta, helpers: Bool, into out: inout [StreamHelperEvent]) {
        guard let id = delta.id else {
            anomalies.append("message delta without an id")
            return
        }
        if messages[id] == nil {
            anomalies.append("message delta for \(id) before its thread.message.created")
            messages[id] = ["id": .string(id), "object": "thread.message", "content": []]
        }
        // The common text piece appends in place, without a JSON tree (when nobody wants helper events).
        if !helpers, let piece = delta.textPiece {
            var appended = false
            messages.modifyValue(forKey: id) { appended = piece.append(to: &$0) }
            if appended { return }
        }
        guard let content = delta.delta["content"] else { return }
        // Which content blocks this delta opens, decided before merging. Hold no reference into the snapshot
        // across the merge: a second reference would make the merge copy the accumulated text.
        let newIndices = helpers ? openedContentIndices(messageID: id, content: content) : []
        messages.modifyValue(forKey: id) { snapshot in
            for anomaly in snapshot.accumulate(["content": content]) { anomalies.append("message \(id): \(anomaly)") }
        }
        guard helpers else { return }
        let snapshot = Message(json: messages[id]!)
        let snapshotContent = snapshot.json["content"]?.arrayValue ?? []
        var pendingTextDone: [StreamHelperEvent] = []
        for block in content.arrayValue ?? [] {
            guard let index = block["index"]?.intValue.map(Int.init), snapshotContent.indices.contains(index) else { continue }
            let isNew = newIndices.contains(index)
            let blockSnapshot = snapshotContent[index]
            if isNew, blockSnapshot["type"]?.stringValue == "text", let text = blockSnapshot["text"] {
                out.append(.textCreated(text))
            }
        }
        out.append(.messageDelta(delta: delta.delta, snapshot: snapshot))
        for block in content.arrayValue ?? [] {
            guard let index = block["index"]?.intValue.map(Int.init), snapshotContent.indices.contains(index) else { continue }
            let blockSnapshot = snapshotContent[index]
            if blockSnapshot["type"]?.stringValue == "text", let textDelta = block["text"],
                let textSnapshot = blockSnapshot["text"]
            {
                out.append(.textDelta(delta: textDelta, snapshot: textSnapshot))
            }
            // The snapshot may have been replaced meanwhile (a `completed` object with fewer blocks): only a block that
            // is still there can be reported done.
            if currentMessageID == id, let current = currentContentIndex, current != index,
                snapshotContent.indices.contains(current), let previous = snapshotContent[current]["text"]
            {
                pendingTextDone.append(.textDone(text: previous, message: snapshot))
            }
            currentMessageID = id
            currentContentIndex = index
        }
        out.append(contentsOf: pendingTextDone)
    }
}

extension SnapshotAccumulator {
    /// Takes a message fetched from the server (after a dropped stream) as its snapshot.
    public mutating func absorb(message: Message) {
        apply(.message(.completed, message), helpers: false)
    }
}
