import AssistantsAPI
import BackendSupport
import HTTPTransport
import Journal
import ResponsesProtocol
import WireFormat
import WorkModel
import Worker

/// One Responses event stream as the worker reads it: frames decoded and applied to the session's accumulator
/// (a replayed `sequence_number` is skipped, so a resumed stream stores no event twice), each turned into a
/// ``LoopEvent``. The stream ends after its terminal event; there is no `[DONE]`.
final class ResponsesEventStream: LoopEventStream {
    private var chunks: ResponseBody.AsyncIterator
    private var parser: SSEParser
    private var pending: [SSEFrame] = []
    private let session: ResponsesSession
    private let requestID: String?
    let abort: @Sendable () -> Void

    init(_ response: EventStreamResponse, session: ResponsesSession) {
        chunks = response.body.makeAsyncIterator()
        parser = SSEParser(maxFrameBytes: 8 * 1024 * 1024)
        self.session = session
        requestID = response.requestID
        let body = response.body
        abort = { body.abort() }
    }

    func next() async throws -> LoopEvent? {
        while true {
            while !pending.isEmpty {
                let frame = pending.removeFirst()
                let event = ResponseEventDecoder.decode(frame)
                guard session.accumulator.apply(event) else { continue }  // already applied before a resume
                return loopEvent(event)
            }
            guard let chunk = try await chunks.next() else {
                let leftover = parser.finish()
                if leftover > 0 { throw ResponseStreamError.endedMidFrame(pendingBytes: leftover) }
                return nil
            }
            do {
                pending = try parser.feed(chunk)
            } catch {
                throw ResponseStreamError.frame(error)
            }
        }
    }

    private func loopEvent(_ event: ResponseEvent) -> LoopEvent {
        var loop = LoopEvent(
            name: event.name, kind: .event, data: event.data, byteOffset: event.offset,
            snapshots: ResponsesSnapshots.after(
                event, accumulator: session.accumulator, policy: session.policy, sampler: &session.deltaSnapshots),
            isDelta: event.isDelta)
        switch event.kind {
        case .lifecycle:
            if let response = session.accumulator.response?.objectValue {
                loop.state = LoopState(response: response, calls: session.accumulator.functionCalls)
            }
        case .unknown:
            loop.kind = .unknown
        case .malformed(let reason):
            loop.kind = .malformed
            loop.error = "event '\(event.name)' at stream byte \(event.offset): \(reason)"
        case .error(let code, let message):
            loop.kind = .error
            loop.error = [code, message].compactMap { $0 }.joined(separator: ": ")
            loop.failure = LoopError(.inBand, code: code, message: "error event: \(loop.error ?? message)" + (requestID.map { " [request \($0)]" } ?? ""))
        default:
            break
        }
        return loop
    }
}
