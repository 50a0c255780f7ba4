import Journal
import WorkModel

extension RunDriver {
    /// Reads one stream to its end, recording everything and telling the machine each state the loop passes
    /// through. Returns how the stream ended.
    func consume(_ stream: any LoopEventStream, state: inout DriveState) async -> LoopMachine.Input {
        let abort = stream.abort
        let hook = shutdown?.register(abort)
        defer { shutdown?.unregister(hook) }
        leases?.setAbort(state.runKey, abort)
        defer { leases?.setAbort(state.runKey, nil) }
        // A server that trickles bytes (a comment every few seconds, a frame byte by byte) never trips the HTTP
        // idle time-out: the stream is also a stall when no whole event arrives for as long.
        let watchdog = StreamWatchdog(limit: state.backend.idleTimeout, onStall: abort)
        defer { watchdog.stop() }
        var end = LoopMachine.StreamEnd.complete
        var sawEvents = false
        do {
            while let event = try await stream.next() {
                watchdog.progressed()
                sawEvents = true
                state.recorder.record(event, stream: state.stream)
                for usage in event.usage {
                    state.chatTokens.input += usage.tokens.input
                    state.chatTokens.output += usage.tokens.output
                }
                await journal.waitForRoom()
                if let loop = event.state {
                    if let id = loop.id, id != state.loopID, let holder = try? await journal.runKey(holding: id), holder != state.runKey {
                        // A server that reuses ids: this loop cannot be told apart from run key `holder` in the journal.
                        end = .violation(LoopError(
                            .protocolViolation(retryable: false), code: "duplicate_run_id",
                            message: "the server gave this run the id \(id), which the journal already holds for run key \(holder)"))
                        stream.abort()
                        break
                    }
                    _ = state.machine.handle(.streamEvent(loop), at: clock.now())
                    state.threadID = loop.threadID ?? state.threadID
                    if case .needsOutputs = loop.phase { state.requiresActionAt = .now }
                }
                if let failure = event.failure {
                    end = failure.isProtocolViolation ? .violation(failure) : .broken("\(failure)")
                }
            }
        } catch {
            let reported: any Error = watchdog.fired ? StreamStalled(limit: watchdog.limit) : error
            end = (reported as? LoopError).map { $0.isProtocolViolation ? .violation($0) : .broken("\($0)") } ?? .broken("\(reported)")
            state.recorder.note("toolworker.stream_error", ["error": .string("\(reported)")], stream: state.stream)
        }
        return .streamEnded(end, sawEvents: sawEvents)
    }
}
