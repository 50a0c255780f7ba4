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

    public var protocolName: String { "assistants" }
    /// A run's thread is created first and keeps the message.
    public var preparesContainer: Bool { true }
    public var clientConfiguration: OpenAIClientConfiguration { client.configuration }

    /// Assistants keep their tools on the assistant (`sync-tools` publishes them): `tools` are not sent per run.
    public func makeSession(policy: SnapshotPolicy, tools: [ToolDefinition]) -> any ToolLoopSession {
        AssistantsSession(client: client, policy: policy)
    }

    /// Asks the server to cancel a run (`toolworker cancel`); the run's state after it.
    public func cancel(runID: String, threadID: String) async throws(LoopError) -> LoopState {
        do {
            return LoopState(try await client.cancelRun(threadID: threadID, runID: runID))
        } catch {
            throw LoopError(error)
        }
    }

    /// The run's state now.
    public func retrieve(runID: String, threadID: String) async throws(LoopError) -> LoopState {
        do {
            return LoopState(try await client.retrieveRun(threadID: threadID, runID: runID))
        } catch {
            throw LoopError(error)
        }
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
                expiresAt: run.expiresAt))
    }
}
