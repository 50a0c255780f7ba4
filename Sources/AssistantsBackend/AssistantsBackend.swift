import AssistantsAPI
import OpenAIClient
import AssistantsProtocol
import BackendSupport
import WireFormat
import WorkModel
import Worker

/// The Assistants API v2 behind the worker's seam: a tool loop is a run on a thread.
///
/// Starting creates an empty thread first (`POST /threads`) and the run on it with its key in `metadata`, so a
/// lost answer can be checked by listing the thread's runs; a server without `POST /threads` gets
/// create-thread-and-run. Outputs go back with `submit_tool_outputs`, the run's steps tell which outputs the server
/// took, and the final snapshots are its steps and messages.
public struct AssistantsBackend: HTTPClientBackend {
    public let client: AssistantsClient

    public init(client: AssistantsClient) { self.client = client }

    /// A run lives on a thread, created first so that it keeps the message; the assistant names the model.
    public static let descriptor = ProtocolDescriptor(
        name: "assistants", displayName: "Assistants", containerName: "thread", preparesContainer: true, needsModel: false,
        rebuild: { rebuild($0) }
    ) { request in
        if request.assistantID.isEmpty { return "protocol assistants needs --assistant ID" }
        if request.conversationState != nil || !request.requestOptions.isEmpty {
            return "--state and --request-option are for the Responses protocol"
        }
        return nil
    }
    public var descriptor: ProtocolDescriptor { Self.descriptor }
    public var clientConfiguration: OpenAIClientConfiguration { client.configuration }

    /// Assistants keep their tools on the assistant (`sync-tools` publishes them): `tools` are not sent per run.
    public func makeSession(policy: SnapshotPolicy, tools: [ToolDefinition]) -> any ToolLoopSession {
        AssistantsSession(client: client, policy: policy)
    }

    /// Asks the server to cancel a run (`toolworker cancel`); the run's state after it.
    public func cancel(id: String, threadID: String?) async throws(LoopError) -> LoopState {
        let thread = try Self.thread(threadID, of: id)
        do {
            return LoopState(try await client.cancelRun(threadID: thread, runID: id))
        } catch {
            throw LoopError(error)
        }
    }

    /// The run's state now.
    public func retrieve(id: String, threadID: String?) async throws(LoopError) -> LoopState {
        let thread = try Self.thread(threadID, of: id)
        do {
            return LoopState(try await client.retrieveRun(threadID: thread, runID: id))
        } catch {
            throw LoopError(error)
        }
    }

    /// A run is addressed through its thread: one without is refused before anything is sent.
    static func thread(_ threadID: String?, of runID: String) throws(LoopError) -> String {
        guard let threadID else { throw LoopError(.invalidArgument, message: "run \(runID) has no thread in the journal") }
        return threadID
    }
}

extension LoopState {
    /// A run, as the worker sees it.
    public init(_ run: Run) {
        let phase: LoopPhase
        switch run.status {
        case .requiresAction?:
            phase = .needsOutputs(run.requiredToolCalls)
        case .completed?: phase = .ended(.completed)
        case .failed?: phase = .ended(.failed)
        case .cancelled?: phase = .ended(.cancelled)
        case .expired?: phase = .ended(.expired)
        case .incomplete?: phase = .ended(.incomplete)
        default: phase = .working
        }
        var detail: String?
        if let error = run.lastError {
            detail = [error["code"]?.stringValue, error["message"]?.stringValue].compactMap { $0 }.joined(separator: ": ")
        } else if let incomplete = run.incompleteDetails {
            detail = "incomplete: \(incomplete["reason"]?.stringValue ?? incomplete.serialized())"
        }
        self.init(
            id: run.id, threadID: run.threadID, phase: phase, expiresAt: run.expiresAt,
            errorCode: run.lastError?["code"]?.stringValue, detail: detail,
            record: RunStateRecord(
                runID: run.id, threadID: run.threadID, status: run.status?.rawValue, isTerminal: run.status?.isTerminal == true,
                snapshot: run.json, lastError: run.lastError, incompleteDetails: run.incompleteDetails, usage: run.usage,
                expiresAt: run.expiresAt),
            model: run.json["model"]?.stringValue)
    }
}

extension RequestUsage {
    /// The usage of a run step that ended (one model request of the run): `nil` while the step runs (its `usage` is
    /// `null` until then) or when the server counted nothing.
    public init?(step: RunStep) {
        guard let id = step.id, let tokens = TokenUsage(json: step.json["usage"]) else { return nil }
        var tools: [String] = []
        for call in step.json["step_details"]?["tool_calls"]?.arrayValue ?? [] {
            let type = call["type"]?.stringValue ?? "function"
            let name = type == "function" ? call["function"]?["name"]?.stringValue : type
            if let name, !tools.contains(name) { tools.append(name) }
        }
        self.init(source: id, model: nil, tokens: tokens, tools: tools)
    }
}
