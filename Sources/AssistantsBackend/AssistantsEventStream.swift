import AssistantsAPI
import OpenAIClient
import HTTPTransport
import AssistantsProtocol
import BackendSupport
import WireFormat
import WorkModel
import Worker

/// One Assistants event stream as the worker reads it: each frame decoded, accumulated into the session's
/// snapshots, and turned into a ``LoopEvent`` with the snapshots the policy keeps and the run's state.
final class AssistantsEventStream: LoopEventStream {
    private let events: AssistantStream<ResponseBody>
    private let session: AssistantsSession
    private let requestID: String?
    private var returned = false
    let abort: @Sendable () -> Void

    init(_ response: EventStreamResponse, session: AssistantsSession) {
        // The session's snapshots move into the stream while it reads, and back when it ends.
        events = response.events(accumulator: session.accumulator)
        session.accumulator = SnapshotAccumulator()
        self.session = session
        requestID = response.requestID
        let body = response.body
        abort = { body.abort() }
    }

    deinit { giveBack() }

    private func giveBack() {
        guard !returned else { return }
        returned = true
        session.accumulator = events.accumulator
    }

    func next() async throws -> LoopEvent? {
        do {
            while let element = try await events.next() {
                guard case .event(let event) = element else { continue }
                return loopEvent(event)
            }
        } catch {
            giveBack()
            throw error
        }
        giveBack()
        return nil
    }

    private func loopEvent(_ event: ServerEvent) -> LoopEvent {
        LoopEvent(event, accumulator: events.accumulator, policy: session.policy, sampler: &session.deltaSnapshots, requestID: requestID)
    }
}

extension LoopEvent {
    /// An Assistants event (already applied to `accumulator`), normalized for the worker and the journal.
    public init(
        _ event: ServerEvent, accumulator: SnapshotAccumulator, policy: SnapshotPolicy, sampler: inout DeltaSnapshotSampler,
        requestID: String? = nil
    ) {
        self.init(
            name: event.name, kind: .event, data: event.data, byteOffset: event.offset,
            snapshots: policy.snapshots(after: event.event, accumulator: accumulator, sampler: &sampler))
        switch event.event {
        case .run(_, let run):
            state = LoopState(run)
        case .runStepDelta, .messageDelta:
            isDelta = true
        case .unknown:
            kind = .unknown
        case .malformed(let error):
            kind = .malformed
            self.error = error.description
        case .error(let error):
            kind = .error
            self.error = error.description
            failure = LoopError(
                .inBand, code: error.code,
                message: APIError(status: 200, type: error.type, code: error.code, message: error.message, param: error.param, requestID: requestID).description)
        case .done:
            kind = .done
        case .runStep(.completed, let step), .runStep(.failed, let step), .runStep(.cancelled, let step), .runStep(.expired, let step):
            usage = RequestUsage(step: step).map { [$0] } ?? []
        case .threadCreated, .runStep, .message:
            break
        }
    }
}
