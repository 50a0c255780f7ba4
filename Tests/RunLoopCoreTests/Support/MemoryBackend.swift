import Foundation
import Synchronization
import RunLoopCore

/// A protocol backend in memory, for tests of the driver's decisions without a server or libcurl: each request
/// (start, submit) gets the next scripted answer as a stream of ``LoopEvent``s, and what the driver sent is kept.
struct MemoryBackend: ToolLoopBackend {
    /// One scripted answer.
    enum Answer: Sendable {
        /// A loop asking for these calls.
        case calls([ToolCall])
        /// A loop that ended with this text.
        case text(String)
        /// The request fails.
        case failure(LoopError)
        /// A loop that works for ever: its stream ends without an end, and every retrieve says it is working.
        case working
    }

    /// What the driver did, for the test to read.
    final class Log: Sendable {
        let submitted = Mutex<[[ToolOutput]]>([])
        let retrieves = Atomic<Int>(0)
    }

    let script: [Answer]
    let log = Log()
    var refusalIsFinal = false

    /// A protocol of its own: the journal takes any registered protocol's name.
    static let descriptor = ProtocolDescriptor(
        name: "memory", displayName: "Memory", containerName: "container", preparesContainer: false, needsModel: false) { _ in nil }
    var descriptor: ProtocolDescriptor { Self.descriptor }
    func cancel(id: String, threadID: String?) async throws(LoopError) -> LoopState {
        throw LoopError(.invalidArgument, message: "a memory loop cannot be cancelled")
    }
    func retrieve(id: String, threadID: String?) async throws(LoopError) -> LoopState {
        throw LoopError(.invalidArgument, message: "retrieved through a session only")
    }
    var maxStartRetries: Int { 0 }
    var idleTimeout: Duration { .seconds(60) }
    var submitRefusalIsFinal: Bool { refusalIsFinal }
    func retryDelay(attempt: Int) -> Duration { .milliseconds(1) }
    func makeSession(policy: SnapshotPolicy, tools: [ToolDefinition]) -> any ToolLoopSession { Session(backend: self) }

    final class Session: ToolLoopSession {
        let backend: MemoryBackend
        var next = 0
        var last: LoopState?

        init(backend: MemoryBackend) { self.backend = backend }

        func prepare(_ request: RunRequest, runKey: Int64) async throws(LoopError) -> String? { nil }
        func start(_ request: RunRequest, runKey: Int64, threadID: String?) async throws(LoopError) -> any LoopEventStream { try answer() }
        func submit(_ outputs: [ToolOutput], for loop: LoopState) async throws(LoopError) -> any LoopEventStream {
            backend.log.submitted.withLock { $0.append(outputs) }
            return try answer()
        }
        func retrieve(id: String, threadID: String?) async throws(LoopError) -> LoopState {
            backend.log.retrieves.add(1, ordering: .relaxed)
            guard let last else { throw LoopError(.http(status: 404), message: "unknown") }
            return last
        }
        func find(runKey: Int64, threadID: String?) async throws(LoopError) -> LoopState? { nil }
        func acceptedOutputs(id: String, threadID: String?, among callIDs: Set<String>) async throws(LoopError) -> Set<String> { [] }
        func finalObjects(id: String, threadID: String?) async throws(LoopError) -> [SnapshotRecord] { [] }
        var finalText: String?

        /// The next scripted answer as a one-event stream.
        func answer() throws(LoopError) -> any LoopEventStream {
            guard next < backend.script.count else { throw LoopError(.invalidArgument, message: "the script ran out") }
            let answer = backend.script[next]
            next += 1
            let id = "mem_\(next)"
            let phase: LoopPhase
            switch answer {
            case .failure(let error): throw error
            case .calls(let calls): phase = .needsOutputs(calls)
            case .working: phase = .working
            case .text(let text):
                finalText = text
                phase = .ended(.completed)
            }
            var isEnded = false
            if case .ended = phase { isEnded = true }
            let state = LoopState(
                id: id, threadID: nil, phase: phase,
                record: RunStateRecord(runID: id, threadID: nil, status: isEnded ? "completed" : phase == .working ? "in_progress" : "requires_action", isTerminal: isEnded, snapshot: ["id": .string(id)]))
            last = state
            return Stream(events: [LoopEvent(name: "memory.state", kind: .event, data: #"{"id":"\#(id)"}"#, byteOffset: 0, state: state)])
        }
    }

    final class Stream: LoopEventStream {
        var events: [LoopEvent]
        init(events: [LoopEvent]) { self.events = events }
        func next() async throws -> LoopEvent? { events.isEmpty ? nil : events.removeFirst() }
        let abort: @Sendable () -> Void = {}
    }
}
