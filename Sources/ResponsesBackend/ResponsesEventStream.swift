import OpenAIClient
import BackendSupport
import HTTPTransport
import ResponsesProtocol
import WireFormat
import WorkModel
import Worker

/// One Responses event stream as the worker reads it: frames decoded and applied to the session's accumulator
/// (on a resumed stream a replayed `sequence_number` is skipped, so no event is stored twice; on a live stream every
/// frame is stored), each turned into a ``LoopEvent``. The stream ends when the server closes it; a `[DONE]` frame
/// is stored as the end marker. An event that breaks the protocol is stored and ends the stream; the frames already
/// received after it are stored too (not applied), and the last of them carries the failure.
final class ResponsesEventStream: LoopEventStream {
    private var chunks: ResponseBody.AsyncIterator
    private var parser: SSEParser
    private var pending: [SSEFrame] = []
    private let session: ResponsesSession
    private let requestID: String?
    /// Set after an event that broke the protocol was returned: nothing more is read.
    private var ended = false
    /// The failure to hand over with the last frame already received when the stream was ended.
    private var deferredFailure: (error: String?, failure: LoopError)?
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
        if let deferred = deferredFailure, !pending.isEmpty {
            // Received before the stream was ended: stored as it came, not applied.
            var loop = loopEvent(ResponseEventDecoder.decode(pending.removeFirst()), applied: false)
            loop.error = "received after the stream failed: stored, not applied"
            if pending.isEmpty {
                loop.error = deferred.error
                loop.failure = deferred.failure
                deferredFailure = nil
            }
            return loop
        }
        guard !ended else { return nil }
        while true {
            while !pending.isEmpty {
                let frame = pending.removeFirst()
                let event = ResponseEventDecoder.decode(frame)
                switch session.accumulator.applying(event) {
                case .replayed:
                    continue  // already applied (and stored) before the resume
                case .applied:
                    return await ending(loopEvent(event))
                case .appliedOutOfOrder(let note):
                    var loop = loopEvent(event)
                    loop.error = loop.error ?? note
                    return loop
                case .rejected:
                    ended = true
                    abort()
                    var loop = loopEvent(event, applied: false)
                    let problem = session.accumulator.protocolError ?? "protocol error"
                    loop.error = problem
                    loop.failure = LoopError(.protocolViolation(retryable: false), code: "protocol_error", message: "the server broke the protocol: \(problem)")
                    return await ending(loop)
                }
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

    /// `loop` as it is, unless it ended the stream with frames already received behind it: then its failure waits
    /// for the last of them (every frame received is stored, in order, before the loop ends). After a complete
    /// response (its calls' arguments cut: the server is done), what the server still sends before it closes is
    /// read too, up to a `[DONE]`, the end, an error or 64 frames; after a frame that broke the protocol nothing
    /// more is read (the stream is aborted).
    private func ending(_ loop: LoopEvent) async -> LoopEvent {
        guard ended, let failure = loop.failure else { return loop }
        if failure.code == "truncated_arguments" {
            var frames = 0
            while frames < 64, !pending.contains(where: { $0.data == "[DONE]" }), let chunk = try? await chunks.next() {
                guard let parsed = try? parser.feed(chunk) else { break }
                pending += parsed
                frames += max(parsed.count, 1)
            }
        }
        guard !pending.isEmpty else { return loop }
        var first = loop
        deferredFailure = (loop.error, failure)
        first.failure = nil
        return first
    }

    private func loopEvent(_ event: ResponseEvent, applied: Bool = true) -> LoopEvent {
        var loop = LoopEvent(
            name: event.name, kind: .event, data: event.data, byteOffset: event.offset,
            snapshots: applied
                ? ResponsesSnapshots.after(event, accumulator: session.accumulator, policy: session.policy, sampler: &session.deltaSnapshots)
                : [],
            isDelta: event.isDelta)
        guard applied else { return loop }
        switch event.kind {
        case .lifecycle(let object):
            if session.background, object["background"]?.boolValue == false {
                // Asked for background mode and not given it (a bridge accepts the flag and ignores it): the response
                // cannot be resumed, so a broken stream is followed by a retrieve instead.
                session.background = false
            }
            if let response = session.accumulator.response?.objectValue {
                let calls = session.accumulator.functionCalls
                if session.stateless { session.transcript.noteEnded(response) }
                if let cut = ResponsesSession.unreadableCall(calls, response: response) {
                    // A response reported complete whose call's arguments are cut off (a bridge's backend stream was
                    // cut): not a round to run.
                    loop.error = cut
                    loop.failure = LoopError(.protocolViolation(retryable: true), code: "truncated_arguments", message: cut)
                    ended = true
                    return loop
                }
                let state = LoopState(response: response, calls: calls)
                loop.usage = state.usage.map { [$0] } ?? []
                loop.state = state
            }
        case .done:
            loop.kind = .done
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
