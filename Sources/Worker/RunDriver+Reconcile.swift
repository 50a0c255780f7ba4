import Foundation
import Journal
import Logging
import WireFormat
import WorkModel

extension RunDriver {
    /// Asks the server where the loop stands and decides the next step: `nil` when it is over, a new round when it
    /// waits for outputs, polling (with backoff) while it is queued or working.
    func reconcile(reason: String, state: inout DriveState, logger: Logger) async throws -> Step? {
        guard let loopID = state.loopID else {
            _ = try await finishWithError("lost the run before its id arrived (\(reason))", code: "lost_run", state: &state, logger: logger)
            return nil
        }
        WorkerMetrics.reconciliations.increment()
        var interval: Duration = .milliseconds(250)
        var failures = 0
        let pollingSince = ContinuousClock.now
        var notedStatus: String?
        while true {
            let loop: LoopState
            do {
                loop = try await state.session.retrieve(id: loopID, threadID: state.threadID)
                failures = 0
            } catch {
                if error.kind == .cancelled { throw CancellationError() }
                failures += 1
                logger.warning("retrieving the run failed", metadata: ["run_id": "\(loopID)", "error": "\(error)", "attempt": "\(failures)"])
                if error.isProtocolViolation {
                    return try await protocolViolation(error, state: &state, logger: logger)
                }
                if error.code == "not_stored", state.resends <= state.backend.maxStartRetries {
                    // A server that keeps no state: the response whose stream broke is gone, with no side effect (its
                    // calls never ran). The same request is sent again.
                    state.resends += 1
                    state.recorder.note("toolworker.request_resent", ["reason": .string(reason), "error": .string(error.message)], stream: state.stream)
                    logger.notice("a server that keeps no state lost the response; sending the request again", metadata: ["run_id": "\(loopID)"])
                    do {
                        if let stream = try await state.session.retryLast() { return .stream(stream) }
                    } catch {
                        if error.kind == .cancelled { throw CancellationError() }
                        _ = try await finishWithError("\(reason); sending the request again failed: \(error)", code: "lost_run", state: &state, logger: logger)
                        return nil
                    }
                }
                if error.isUnsupported {
                    // Asking again cannot help (LiteLLM answers every retrieve "not supported"): say so once and end
                    // with the first cause.
                    logger.warning(
                        "the server cannot retrieve this kind of run; ToolWorker cannot follow it after a broken stream",
                        metadata: ["run_id": "\(loopID)", "answer": "\(error)"])
                    _ = try await finishWithError(
                        "\(reason); the server cannot retrieve the run to go on (\(error))", code: "lost_run", state: &state, logger: logger)
                    return nil
                }
                if let status = error.status, [401, 403, 404].contains(status) {
                    _ = try await finishWithError(
                        "\(reason); the server no longer answers for this run: \(error)", code: "lost_run", state: &state, logger: logger)
                    return nil
                }
                if failures >= 20 {
                    _ = try await finishWithError("\(reason); gave up following the run: \(error)", code: "lost_run", state: &state, logger: logger)
                    return nil
                }
                try await Task.sleep(for: interval)
                interval = min(interval * 2, maxPollInterval)
                continue
            }
            state.loop = loop
            try await state.recorder.flush()
            var isEnded = false
            if case .ended = loop.phase { isEnded = true }
            // One row per change of status, not per poll: a loop polled for hours leaves a handful of rows.
            if notedStatus == nil || loop.serverStatus != notedStatus {
                notedStatus = loop.serverStatus
                state.recorder.note(
                    "toolworker.reconciled", ["reason": .string(reason), "status": .string(loop.serverStatus)], stream: state.stream)
                await recordAcceptedOutputs(loopID: loopID, state: state, logger: logger)
                // An ended loop is never resumed: its final objects go in before the row says it ended, so a crash
                // in between leaves the loop open, not incomplete.
                if isEnded { try await recordFinalObjects(loopID: loopID, state: &state, logger: logger) }
                try await store.updateRun(runKey: state.runKey, run: loop.record)
            }
            switch loop.phase {
            case .ended:
                return nil
            case .needsOutputs:
                return try await answerRound(state: &state, logger: logger)
            case .working:
                // A protocol that can re-attach to the live stream (Responses background mode) does so, after the
                // last event it applied; after a few resumes that bring nothing, it is polled like any other.
                if let stream = try await resumeStream(loopID: loopID, state: &state, logger: logger) {
                    return .stream(stream)
                }
            }
            // Queued, working, cancelling: no stream to re-attach to; poll. A loop that outlives its expires_at by
            // far, or that has none and has been polled that long, is not going anywhere: stop following it rather
            // than poll forever.
            let pastExpiry = loop.expiresAt.map { Double($0) + pollPastExpiry < Date().timeIntervalSince1970 }
                ?? (ContinuousClock.now - pollingSince > .milliseconds(Int64(pollPastExpiry * 1000)))
            if pastExpiry {
                _ = try await finishWithError(
                    loop.expiresAt == nil
                        ? "the run is still \(loop.serverStatus) after \(Int(pollPastExpiry)) s of polling and has no expires_at; stopped following it"
                        : "the run is still \(loop.serverStatus) long after its expires_at; stopped following it",
                    code: "lost_run", state: &state, logger: logger)
                return nil
            }
            try await Task.sleep(for: interval)
            interval = min(interval * 2, maxPollInterval)
        }
    }

    /// Re-attaches to the loop's live stream, or `nil` to poll instead.
    ///
    /// Resumes back off (the client's retry delay, growing with each resume since the loop last moved on: a new
    /// round or its end) and are bounded: after `api.max_retries` + 1 of them, or 3 in a row that brought no event,
    /// or once the server said it cannot resume, the loop is polled (which itself ends past `expires_at`). A server
    /// whose every resumed stream brings one event and drops is no longer a hot loop.
    func resumeStream(loopID: String, state: inout DriveState, logger: Logger) async throws -> (any LoopEventStream)? {
        guard state.fruitlessResumes < 3, !state.resumeUnsupported else { return nil }
        guard state.resumes <= state.backend.maxStartRetries else {
            if state.resumes == state.backend.maxStartRetries + 1 {
                logger.warning(
                    "resumed streams keep breaking; polling the run instead",
                    metadata: ["run_id": "\(loopID)", "resumes": "\(state.resumes)"])
                state.recorder.note("toolworker.resume_given_up", ["resumes": .int(Int64(state.resumes))], stream: state.stream)
                state.resumes += 1
            }
            return nil
        }
        if state.resumes > 0 { try await Task.sleep(for: state.backend.retryDelay(attempt: state.resumes - 1)) }
        state.resumes += 1
        do {
            guard let stream = try await state.session.resume(id: loopID) else { return nil }
            state.fruitlessResumes += 1
            return stream
        } catch {
            if error.kind == .cancelled { throw CancellationError() }
            if error.isUnsupported {
                state.resumeUnsupported = true
                logger.warning("the server cannot resume streams; polling instead", metadata: ["run_id": "\(loopID)", "answer": "\(error)"])
            }
            return nil
        }
    }

    /// Ends the loop for a server that broke the protocol, or sends the request once more where a second answer
    /// may be whole (a completed response with a call cut off).
    func protocolViolation(_ error: LoopError, state: inout DriveState, logger: Logger) async throws -> Step? {
        if case .protocolViolation(retryable: true) = error.kind, !state.retriedAfterViolation {
            state.retriedAfterViolation = true
            logger.warning("the server's answer is broken; sending the request once more", metadata: [
                "run_id": "\(state.loopID ?? "?")", "error": "\(error)",
            ])
            state.recorder.note("toolworker.retry_broken_answer", ["error": .string(error.message)], stream: state.stream)
            do {
                if let stream = try await state.session.retryLast() { return .stream(stream) }
            } catch {
                if error.kind == .cancelled { throw CancellationError() }
                _ = try await finishWithError(
                    "\(error.message); sending the request again failed: \(error)", code: error.code ?? "protocol_error", status: .failed,
                    state: &state, logger: logger)
                return nil
            }
        }
        _ = try await finishWithError(error.message, code: error.code ?? "protocol_error", status: .failed, state: &state, logger: logger)
        return nil
    }

    /// Outputs stored before a crash but never marked submitted (the process died between the submit and its
    /// answer, or the answer was an error): those the server took are recorded as submitted, learned by
    /// reconciliation; the others are submitted again by the next round as usual.
    func recordAcceptedOutputs(loopID: String, state: DriveState, logger: Logger) async {
        guard let unsubmitted = try? await store.unsubmittedOutputs(runKey: state.runKey), !unsubmitted.isEmpty,
            let accepted = try? await state.session.acceptedOutputs(id: loopID, threadID: state.threadID, among: Set(unsubmitted.map(\.callID))),
            !accepted.isEmpty
        else { return }
        logger.notice("outputs submitted before were taken by the server", metadata: ["calls": "\(accepted.count)"])
        try? await store.markSubmitted(runKey: state.runKey, callIDs: accepted.sorted(), via: .reconcile)
    }

    /// After a loop ended without a stream (or after a restart): store the final snapshots of everything it
    /// produced, so the history shows what the stream would have. Retried with backoff; when the server keeps
    /// refusing, a note in the event log says the audit lacks them.
    func recordFinalObjects(loopID: String, state: inout DriveState, logger: Logger) async throws {
        var snapshots: [SnapshotRecord] = []
        var lastError: LoopError?
        var delay: Duration = .milliseconds(250)
        for attempt in 0..<6 {
            do {
                snapshots = try await state.session.finalObjects(id: loopID, threadID: state.threadID)
                lastError = nil
                break
            } catch {
                if error.kind == .cancelled { throw CancellationError() }
                lastError = error
                if let status = error.status, [401, 403, 404].contains(status) { break }
                if attempt < 5 {
                    try await Task.sleep(for: delay)
                    delay = min(delay * 2, maxPollInterval)
                }
            }
        }
        if let lastError {
            logger.warning("could not read the run's final steps and messages", metadata: ["run_id": "\(loopID)", "error": "\(lastError)"])
            state.recorder.note("toolworker.audit_incomplete", ["error": .string("\(lastError)")], stream: state.stream)
            try await state.recorder.flush()
            return
        }
        store.enqueueProgress(runKey: state.runKey, events: [], snapshots: snapshots, run: nil)
        try await store.flush()
    }

    /// The loop is over: make sure the store says so, and report.
    func finish(state: inout DriveState, logger: Logger) async throws -> RunOutcome {
        try await state.recorder.flush()
        let loop = state.loop
        var status = OutcomeStatus.error
        if case .ended(let ended)? = loop?.phase { status = ended }
        let level: Logger.Level = status == .completed ? .info : .warning
        var metadata: Logger.Metadata = ["run_id": "\(state.loopID ?? "?")", "status": "\(status.rawValue)", "rounds": "\(state.rounds)"]
        if let detail = loop?.detail { metadata["detail"] = "\(detail)" }
        logger.log(level: level, "run ended", metadata: metadata)
        WorkerMetrics.runEnded(status, rounds: state.rounds)
        return RunOutcome(
            runKey: state.runKey, runID: state.loopID, threadID: state.threadID, status: status, detail: loop?.detail,
            rounds: state.rounds, finalText: state.session.finalText, errorCode: loop?.errorCode)
    }

    /// Ends the loop with ToolWorker's own `error` status (or `status`: `failed` for a server that broke the
    /// protocol), `code` and `message` in its `last_error`.
    func finishWithError(
        _ message: String, code: String, status: OutcomeStatus = .error, state: inout DriveState, logger: Logger
    ) async throws -> RunOutcome {
        try? await state.recorder.flush()
        try await store.endRun(runKey: state.runKey, status: status, lastError: ["code": .string(code), "message": .string(message)])
        logger.error("run could not be followed", metadata: ["run_id": "\(state.loopID ?? "?")", "error": "\(message)"])
        WorkerMetrics.runEnded(status, rounds: state.rounds)
        let outcome = RunOutcome(
            runKey: state.runKey, runID: state.loopID, threadID: state.threadID, status: status, detail: message,
            rounds: state.rounds, finalText: nil, errorCode: code)
        state.errorOutcome = outcome
        return outcome
    }
}
