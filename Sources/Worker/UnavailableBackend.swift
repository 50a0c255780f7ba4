import Journal
import WireFormat
import WorkModel

/// Stands in for a protocol this process was not set up for (a job queued with `--protocol responses` on a daemon
/// without a model, for example): every request fails with a clear error, so the run ends `error` instead of
/// crashing or hanging.
struct UnavailableBackend: ToolLoopBackend {
    let name: String
    init(protocolName: String) { name = protocolName }
    var descriptor: ProtocolDescriptor {
        ProtocolDescriptor(name: name, displayName: name, containerName: "container", preparesContainer: false, needsModel: false) { [name] _ in
            "this ToolWorker is not set up for protocol '\(name)'"
        }
    }
    var maxStartRetries: Int { 0 }
    var idleTimeout: Duration { .seconds(90) }
    func retryDelay(attempt: Int) -> Duration { .zero }
    func makeSession(policy: SnapshotPolicy, tools: [ToolDefinition]) -> any ToolLoopSession { Session(protocolName: name) }
    func cancel(id: String, threadID: String?) async throws(LoopError) -> LoopState { throw Session(protocolName: name).error }
    func retrieve(id: String, threadID: String?) async throws(LoopError) -> LoopState { throw Session(protocolName: name).error }

    final class Session: ToolLoopSession {
        let protocolName: String
        init(protocolName: String) { self.protocolName = protocolName }
        var error: LoopError { LoopError(.invalidArgument, message: "this ToolWorker is not set up for protocol '\(protocolName)'") }
        func prepare(_ request: RunRequest, runKey: Int64) async throws(LoopError) -> String? { throw error }
        func start(_ request: RunRequest, runKey: Int64, threadID: String?) async throws(LoopError) -> any LoopEventStream { throw error }
        func submit(_ outputs: [ToolOutput], for loop: LoopState) async throws(LoopError) -> any LoopEventStream { throw error }
        func retrieve(id: String, threadID: String?) async throws(LoopError) -> LoopState { throw LoopError(.http(status: 404), message: error.message) }
        func find(runKey: Int64, threadID: String?) async throws(LoopError) -> LoopState? { throw error }
        func acceptedOutputs(id: String, threadID: String?, among callIDs: Set<String>) async throws(LoopError) -> Set<String> { [] }
        func finalObjects(id: String, threadID: String?) async throws(LoopError) -> [SnapshotRecord] { [] }
        var finalText: String? { nil }
    }
}
