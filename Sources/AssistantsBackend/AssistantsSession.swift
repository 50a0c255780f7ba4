import AssistantsAPI
import OpenAIClient
import AssistantsProtocol
import BackendSupport
import WireFormat
import WorkModel
import Worker

/// One run's conversation with an Assistants v2 server: the snapshots accumulated across its streams.
final class AssistantsSession: ToolLoopSession {
    let client: AssistantsClient
    let policy: SnapshotPolicy
    /// Handed to each stream while it reads (so merges stay in place) and taken back when it ends.
    var accumulator = SnapshotAccumulator()
    /// Which deltas get a snapshot under `snapshots: all`, across the run's streams.
    var deltaSnapshots = DeltaSnapshotSampler()
    /// The server answered `POST /threads` with 404/405/501: use create-thread-and-run.
    private var createsThreads = true

    init(client: AssistantsClient, policy: SnapshotPolicy) {
        self.client = client
        self.policy = policy
    }

    func prepare(_ request: RunRequest, runKey: Int64) async throws(LoopError) -> String? {
        do {
            let thread = try await client.createThread(metadata: ["toolworker_run": .string(String(runKey))])
            guard let id = thread.id else { throw LoopError(.invalidResponse, message: "POST /threads: a thread without an id") }
            return id
        } catch let error as OpenAIClientError where [404, 405, 501].contains(error.status ?? 0) {
            createsThreads = false
            return nil
        } catch let error as OpenAIClientError {
            throw LoopError(error)
        } catch let error as LoopError {
            throw error
        } catch {
            throw LoopError(.cancelled, message: "\(error)")
        }
    }

    func start(_ request: RunRequest, runKey: Int64, threadID: String?) async throws(LoopError) -> any LoopEventStream {
        let body = Self.body(request, runKey: runKey, onExistingThread: threadID != nil)
        do {
            let response: EventStreamResponse
            if let threadID {
                response = try await client.createRun(threadID: threadID, body)
            } else {
                response = try await client.createThreadAndRun(body)
            }
            return AssistantsEventStream(response, session: self)
        } catch {
            throw LoopError(error)
        }
    }

    func submit(_ outputs: [ToolOutput], for loop: LoopState) async throws(LoopError) -> any LoopEventStream {
        guard let runID = loop.id, let threadID = loop.threadID else {
            throw LoopError(.invalidArgument, message: "a run without an id or thread cannot take outputs")
        }
        do {
            return AssistantsEventStream(try await client.submitToolOutputs(threadID: threadID, runID: runID, outputs: outputs), session: self)
        } catch {
            throw LoopError(error)
        }
    }

    func retrieve(id: String, threadID: String?) async throws(LoopError) -> LoopState {
        guard let threadID else { throw LoopError(.invalidArgument, message: "run \(id) has no thread") }
        do {
            return LoopState(try await client.retrieveRun(threadID: threadID, runID: id))
        } catch {
            throw LoopError(error)
        }
    }

    func find(runKey: Int64, threadID: String?) async throws(LoopError) -> LoopState? {
        // Without a thread (create-thread-and-run) there is nothing to look the run up on.
        guard let threadID else {
            throw LoopError(.invalidArgument, message: "without a thread the server cannot be asked whether the run exists")
        }
        do {
            return try await client.listRuns(threadID: threadID)
                .last { $0.metadata?["toolworker_run"]?.stringValue == String(runKey) }
                .map(LoopState.init)
        } catch {
            throw LoopError(error)
        }
    }

    func acceptedOutputs(id: String, threadID: String?, among callIDs: Set<String>) async throws(LoopError) -> Set<String> {
        guard let threadID else { return [] }
        let steps: [RunStep]
        do {
            steps = try await client.listRunSteps(threadID: threadID, runID: id)
        } catch {
            throw LoopError(error)
        }
        var accepted: Set<String> = []
        for step in steps {
            for call in step.json[path: "step_details.tool_calls"]?.arrayValue ?? [] {
                guard let callID = call["id"]?.stringValue, callIDs.contains(callID),
                    let output = call[path: "function.output"], output != .null
                else { continue }
                accepted.insert(callID)
            }
        }
        return accepted
    }

    func usage(inFinal snapshots: [SnapshotRecord]) -> [RequestUsage] {
        snapshots.compactMap { $0.type == .runStep ? RequestUsage(step: RunStep(json: $0.data)) : nil }
    }

    func finalObjects(id: String, threadID: String?) async throws(LoopError) -> [SnapshotRecord] {
        guard let threadID else { return [] }
        let steps: [RunStep]
        let messages: [Message]
        do {
            steps = try await client.listRunSteps(threadID: threadID, runID: id)
            messages = try await client.listMessages(threadID: threadID, runID: id)
        } catch {
            throw LoopError(error)
        }
        var snapshots: [SnapshotRecord] = []
        for step in steps {
            snapshots.append(SnapshotRecord(eventSeq: nil, type: .runStep, objectID: step.id ?? "?", status: step.status, data: step.json))
        }
        for message in messages {
            snapshots.append(SnapshotRecord(eventSeq: nil, type: .message, objectID: message.id ?? "?", status: message.status, data: message.json))
            if message.id != nil { accumulator.absorb(message: message) }
        }
        return snapshots
    }

    var finalText: String? { accumulator.finalMessages.last { $0.role == "assistant" }?.text }

    /// The request body (without `stream`, which the client adds).
    static func body(_ request: RunRequest, runKey: Int64, onExistingThread: Bool) -> JSONObject {
        var body: JSONObject = ["assistant_id": .string(request.assistantID)]
        if let instructions = request.instructions { body["instructions"] = .string(instructions) }
        body["metadata"] = .object(request.metadataObject(runKey: runKey))
        if let message = request.message {
            let messages: JSONValue = [["role": "user", "content": .string(message)]]
            if onExistingThread {
                body["additional_messages"] = messages
            } else {
                body["thread"] = ["messages": messages]
            }
        }
        return body
    }
}
