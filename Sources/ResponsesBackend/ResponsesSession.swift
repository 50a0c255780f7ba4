import OpenAIClient
import BackendSupport
import ResponsesAPI
import ResponsesProtocol
import WireFormat
import WorkModel
import Worker

/// One loop's conversation with a Responses server: the accumulated response chain, the last applied
/// `sequence_number` (for resuming), and what every follow-up request repeats (model, instructions, tools,
/// metadata).
final class ResponsesSession: ToolLoopSession {
    let backend: ResponsesBackend
    let policy: SnapshotPolicy
    /// Which deltas get a snapshot under `snapshots: all`, across the chain's streams.
    var deltaSnapshots = DeltaSnapshotSampler()
    var accumulator = ResponseAccumulator()
    /// Background mode, until a server refuses it (never with a server that keeps no state).
    var background = true
    /// The server keeps no state: every request carries the whole ``transcript``, `store: false`.
    var stateless = false
    var transcript = StatelessTranscript()
    /// The conversation the loop continues (what a thread was): every request names it, none names a previous
    /// response (the API refuses both together).
    var conversation: String?
    private var model: String?
    private var instructions: String?
    private var metadata: JSONObject = [:]
    /// The configuration's request options with the loop's own over them.
    private var requestOptions: JSONObject = [:]
    private var runKey: Int64 = 0
    /// The input and `previous_response_id` of the latest create request (and the response it answers), for
    /// ``retryLast()``.
    private var lastRequest: (input: [JSONValue], previous: String?, answering: String?)?

    /// Flat function tools (`{"type":"function","name",…}`), sent with every request: the registry's at the start.
    let tools: [JSONValue]

    init(backend: ResponsesBackend, policy: SnapshotPolicy, tools: [JSONValue]) {
        self.backend = backend
        self.policy = policy
        self.tools = tools
    }

    var client: ResponsesClient { backend.client }

    func prepare(_ request: RunRequest, runKey: Int64) async throws(LoopError) -> String? { nil }

    func restore(_ request: RunRequest, runKey: Int64, history: LoopHistory) {
        self.runKey = runKey
        model = request.model ?? backend.defaultModel
        instructions = request.instructions ?? backend.defaultInstructions
        metadata = request.metadataObject(runKey: runKey)
        requestOptions = backend.defaultRequestOptions
        for (key, value) in request.requestOptions where RequestOptions.allowed.contains(key) { requestOptions[key] = value }
        stateless = (request.conversationState ?? backend.defaultState) == .stateless
        conversation = request.threadID
        if stateless {
            background = false
            transcript = StatelessTranscript(restoring: history, opening: Self.opening(request))
            // What the next request would send, should the response being streamed at the restart be gone.
            let answered = transcript.lastAnswered
            lastRequest = (transcript.input(through: answered), nil, answered)
        }
    }

    /// The opening input: the user's message, if any.
    static func opening(_ request: RunRequest) -> [JSONValue] {
        guard let message = request.message else { return [] }
        return [["type": "message", "role": "user", "content": [["type": "input_text", "text": .string(message)]]]]
    }

    func start(_ request: RunRequest, runKey: Int64, threadID: String?) async throws(LoopError) -> any LoopEventStream {
        restore(request, runKey: runKey, history: LoopHistory())
        guard model?.isEmpty == false else {
            throw LoopError(.invalidArgument, message: "the Responses API needs a model: give --model or set model: in the configuration")
        }
        if conversation != nil && stateless {
            throw LoopError(.invalidArgument, message: "a conversation lives on the server: it cannot be continued with api.state: stateless")
        }
        return try await post(input: Self.opening(request), previous: nil, answering: nil)
    }

    func submit(_ outputs: [ToolOutput], for loop: LoopState) async throws(LoopError) -> any LoopEventStream {
        guard let previous = loop.id else { throw LoopError(.invalidArgument, message: "a response without an id cannot take outputs") }
        if stateless {
            // The whole conversation again: the response's own items as received, then every output.
            let items = accumulator.base?["id"]?.stringValue == previous ? accumulator.outputItems : transcript.items(of: previous) ?? []
            transcript.record(response: previous, items: items)
            for output in outputs { transcript.outputs[output.toolCallID] = output.output }
            return try await post(input: transcript.input(through: previous), previous: nil, answering: previous)
        }
        let input: [JSONValue] = outputs.map(Self.outputItem)
        do {
            // On a conversation the outputs go back to the conversation, which holds the calls.
            return try await post(input: input, previous: conversation == nil ? previous : nil, answering: previous)
        } catch {
            throw Self.explainingState(error)
        }
    }

    /// The largest output the API takes for one call; a longer one is cut, with a mark.
    static let maximumOutputBytes = 10 * 1024 * 1024

    /// An output as the item that answers its call: `function_call_output` or `custom_tool_call_output`, cut to
    /// ``maximumOutputBytes``.
    static func outputItem(_ output: ToolOutput) -> JSONValue {
        outputItem(callID: output.toolCallID, output: output.output, kind: output.kind)
    }

    static func outputItem(callID: String, output: String, kind: ToolKind) -> JSONValue {
        switch kind {
        case .function, .custom:
            return [
                "type": .string(kind == .custom ? "custom_tool_call_output" : "function_call_output"), "call_id": .string(callID),
                "output": .string(capped(output)),
            ]
        case .shell:
            // One entry per command run: stdout, stderr, outcome. An answer that is not that (a refusal, an error of
            // ToolWorker's) is given as one failed command, so the model reads it where it looks.
            let chunks = (try? JSONValue(parsing: output))?.arrayValue
                ?? [["stdout": "", "stderr": .string(capped(output)), "outcome": ["type": "exit", "exit_code": 126]]]
            return ["type": "shell_call_output", "call_id": .string(callID), "output": .array(chunks)]
        case .localShell:
            return ["type": "local_shell_call_output", "id": .string(callID), "output": .string(capped(output))]
        case .applyPatch:
            // `{"status", "output"}` from the workspace; anything else (a refusal of ToolWorker's) failed.
            let answer = (try? JSONValue(parsing: output))?.objectValue
            let status = answer?["status"]?.stringValue == "completed" ? "completed" : "failed"
            return [
                "type": "apply_patch_call_output", "call_id": .string(callID), "status": .string(status),
                "output": .string(capped(answer?["output"]?.stringValue ?? output)),
            ]
        }
    }

    /// `text` within the API's limit for one output, cut at a character boundary with a mark.
    static func capped(_ text: String) -> String {
        guard text.utf8.count > maximumOutputBytes else { return text }
        let mark = "\n[ToolWorker: output truncated at 10 MiB, the API's limit]"
        var cut = text.utf8.prefix(maximumOutputBytes - mark.utf8.count)
        while !cut.isEmpty, String(cut) == nil { cut = cut.dropLast() }
        return (String(cut) ?? "") + mark
    }

    /// A refusal of `previous_response_id` names the way out: a server that keeps no state wants `api.state:
    /// stateless`.
    static func explainingState(_ error: LoopError) -> LoopError {
        guard let status = error.status, status == 400 || status == 404 else { return error }
        let text = error.message.lowercased()
        guard ["previous_response", "previous response", "not found", "not supported", "store"].contains(where: text.contains) else { return error }
        var explained = error
        explained.message += " (the server does not keep responses for previous_response_id: if it keeps no state, set api.state: stateless, or --state stateless)"
        return explained
    }

    /// Sends the latest create request once more (a response reported complete with a call cut off).
    func retryLast() async throws(LoopError) -> (any LoopEventStream)? {
        guard let lastRequest else { return nil }
        return try await post(input: lastRequest.input, previous: lastRequest.previous, answering: lastRequest.answering, retry: true)
    }

    /// One streamed `POST /responses`, falling back to foreground once if the server refuses background mode.
    ///
    /// A create answered with a 5xx, a time-out or a dropped connection may have made a response nobody follows;
    /// that orphan has no side effect (ToolWorker runs only the calls of the responses it follows), so the driver
    /// creates it again (``find(runKey:threadID:)`` says there is none to follow). Each request carries an
    /// `Idempotency-Key` (`toolworker-<run key>-<previous response or "start">`, `-retry` for ``retryLast()``) for
    /// servers that de-duplicate: the same request sent again is the same key.
    private func post(
        input: [JSONValue], previous: String?, answering: String?, retry: Bool = false
    ) async throws(LoopError) -> any LoopEventStream {
        lastRequest = (input, previous, answering)
        let idempotencyKey = "toolworker-\(runKey)-\(answering ?? "start")" + (retry ? "-retry" : "")
        while true {
            var body: JSONObject = ["model": .string(model ?? "")]
            body["input"] = .array(input)
            if let instructions { body["instructions"] = .string(instructions) }
            if let conversation {
                body["conversation"] = .string(conversation)
            } else if let previous {
                body["previous_response_id"] = .string(previous)
            }
            if !tools.isEmpty { body["tools"] = .array(tools) }
            for (key, value) in requestOptions { body[key] = value }
            body["metadata"] = .object(metadata)
            body["store"] = .bool(!stateless)
            if background && !stateless { body["background"] = true }
            do {
                let response = try await client.create(body, idempotencyKey: idempotencyKey, answering: answering != nil)
                accumulator.startNextResponse()
                return ResponsesEventStream(response, session: self)
            } catch let error {
                if background, case .api(let api) = error, api.status == 400,
                    api.param == "background" || api.message.lowercased().contains("background")
                {
                    background = false
                    continue
                }
                throw LoopError(error)
            }
        }
    }

    func retrieve(id: String, threadID: String?) async throws(LoopError) -> LoopState {
        let response = try await fetch(id)
        let state = LoopState(response: response)
        if case .needsOutputs(let calls) = state.phase, let cut = Self.unreadableCall(calls, response: response) {
            throw LoopError(.protocolViolation(retryable: true), code: "truncated_arguments", message: cut)
        }
        return state
    }

    /// Response `id` as the server has it, or, on a server that keeps no state, as this session saw it (``known(_:)``).
    func fetch(_ id: String) async throws(LoopError) -> JSONObject {
        if stateless { return try known(id) }
        do {
            return try await client.retrieve(id: id)
        } catch {
            throw LoopError(error)
        }
    }

    /// The Responses API cannot list responses by metadata, and it needs not: a response whose create answer was
    /// lost is an orphan nobody follows, without side effects here (its calls are never run), so the create is sent
    /// again. `nil` says "none to follow".
    func find(runKey: Int64, threadID: String?) async throws(LoopError) -> LoopState? {
        nil
    }

    /// Why a completed response's calls cannot be run, or `nil`: a call whose `arguments` are not JSON (an empty
    /// string is taken as no arguments) was cut off, however the response reports itself.
    static func unreadableCall(_ calls: [ToolCall], response: JSONObject) -> String? {
        guard response["status"]?.stringValue == "completed" else { return nil }
        for call in calls where call.kind == .function && !call.arguments.isEmpty {
            if (try? JSONValue(parsing: call.arguments)) == nil {
                return "response \(response["id"]?.stringValue ?? "?") is reported completed, but the arguments of its call "
                    + "\(call.id) (\(call.name)) are not valid JSON (\(call.arguments.utf8.count) bytes): the answer was cut off"
            }
        }
        return nil
    }

    func acceptedOutputs(id: String, threadID: String?, among callIDs: Set<String>) async throws(LoopError) -> Set<String> {
        // The response that took them would be a new one, whose id the lost answer carried: not knowable.
        []
    }

    /// What a server that keeps no state would have said of response `id`: what this session saw of it (its stream,
    /// or the journal after a restart). A response never seen to end is gone with its connection: the caller sends
    /// the request again (`not_stored`).
    func known(_ id: String) throws(LoopError) -> JSONObject {
        if let object = transcript.finished[id] {
            if accumulator.base?["id"]?.stringValue != id { accumulator.absorb(response: object) }
            return object
        }
        if accumulator.base?["id"]?.stringValue == id, let object = accumulator.response?.objectValue,
            StatelessTranscript.hasEnded(object)
        {
            return object
        }
        throw LoopError(
            .http(status: 404), code: "not_stored",
            message: "response \(id) was not seen to end, and a server that keeps no state cannot be asked for it")
    }

    func finalObjects(id: String, threadID: String?) async throws(LoopError) -> [SnapshotRecord] {
        let response = try await fetch(id)
        accumulator.absorb(response: response)
        var snapshots = [SnapshotRecord(
            eventSeq: nil, type: .run, objectID: id, status: response["status"]?.stringValue, data: .object(response))]
        for item in response["output"]?.arrayValue ?? [] { snapshots += ResponsesSnapshots.item(item) }
        return snapshots
    }

    var finalText: String? { accumulator.outputText }

    func resume(id: String) async throws(LoopError) -> (any LoopEventStream)? {
        guard background, let last = accumulator.lastSequenceNumber, accumulator.base?["id"]?.stringValue == id else { return nil }
        do {
            let stream = ResponsesEventStream(try await client.resume(id: id, startingAfter: last), session: self)
            accumulator.startResumedStream()
            return stream
        } catch {
            throw LoopError(error)
        }
    }
}

/// The snapshots the journal keeps of a Responses stream.
enum ResponsesSnapshots {
    /// An output item: a message (`message`), a function call (`tool_call`), anything else (reasoning, built-in
    /// tools) as a step (`run_step`).
    static func item(_ item: JSONValue) -> [SnapshotRecord] {
        let type: SnapshotObjectType
        if item["type"]?.stringValue == "message" {
            type = .message
        } else if item.objectValue.flatMap(ResponseAccumulator.callKind) != nil {
            type = .toolCall
        } else {
            type = .runStep
        }
        // A function call is known by its call_id (the key its output is submitted under), anything else by its id.
        let id = (type == .toolCall ? item["call_id"]?.stringValue : nil) ?? item["id"]?.stringValue ?? "?"
        return [SnapshotRecord(eventSeq: nil, type: type, objectID: id, status: item["status"]?.stringValue, data: item)]
    }

    /// What `policy` keeps after `event` (already applied to `accumulator`); under `all`, `sampler` picks the deltas
    /// that get one.
    static func after(
        _ event: ResponseEvent, accumulator: ResponseAccumulator, policy: SnapshotPolicy, sampler: inout DeltaSnapshotSampler
    ) -> [SnapshotRecord] {
        switch event.kind {
        case .lifecycle:
            guard let response = accumulator.response else { return [] }
            return [SnapshotRecord(
                eventSeq: nil, type: .run, objectID: response["id"]?.stringValue ?? "?", status: response["status"]?.stringValue,
                data: response)]
        case .outputItemDone(let index, _):
            return accumulator.outputItems.indices.contains(index) ? item(accumulator.outputItems[index]) : []
        case .textDelta(let index, _, _, _), .argumentsDelta(let index, _):
            guard policy == .all, accumulator.outputItems.indices.contains(index) else { return [] }
            let records = item(accumulator.outputItems[index])
            guard let objectID = records.first?.objectID, sampler.shouldSnapshot(objectID) else { return [] }
            return records
        default:
            return []
        }
    }
}
