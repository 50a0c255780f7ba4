import Foundation
import Journal
import Logging
import WireFormat
import WorkModel

extension RunDriver {
    /// Keeps a state the server gave on a retrieve: durably, with a note per change of status, the outputs the
    /// server took, and for an ended loop its final objects, which go in before the row says it ended (so a crash in
    /// between leaves the loop open, not incomplete).
    func recordRetrieved(_ loop: LoopState, reason: String, statusChanged: Bool, state: inout DriveState, logger: Logger) async throws {
        state.threadID = loop.threadID ?? state.threadID
        state.recorder.model = loop.model ?? state.recorder.model
        if let usage = loop.usage { state.recorder.recordUsage([usage]) }
        try await state.recorder.flush()
        guard statusChanged, let loopID = state.loopID else { return }
        state.recorder.note("toolworker.reconciled", ["reason": .string(reason), "status": .string(loop.serverStatus)], stream: state.stream)
        await recordAcceptedOutputs(loopID: loopID, state: state, logger: logger)
        if case .ended = loop.phase { try await recordFinalObjects(loopID: loopID, state: &state, logger: logger) }
        try await journal.updateRun(runKey: state.runKey, run: loop.record)
    }

    /// Outputs stored before a crash but never marked submitted (the process died between the submit and its
    /// answer, or the answer was an error): those the server took are recorded as submitted, learned by
    /// reconciliation; the others are submitted again by the next round as usual.
    func recordAcceptedOutputs(loopID: String, state: DriveState, logger: Logger) async {
        guard let unsubmitted = try? await journal.unsubmittedOutputs(runKey: state.runKey), !unsubmitted.isEmpty,
            let accepted = try? await state.session.acceptedOutputs(id: loopID, threadID: state.threadID, among: Set(unsubmitted.map(\.callID))),
            !accepted.isEmpty
        else { return }
        logger.notice("outputs submitted before were taken by the server", metadata: ["calls": "\(accepted.count)"])
        try? await journal.markSubmitted(runKey: state.runKey, callIDs: accepted.sorted(), via: .reconcile)
    }

    /// After a loop ended without a stream (or after a restart): store the final snapshots of everything it
    /// produced, so the history shows what the stream would have. Retried with backoff; when the server keeps
    /// refusing, a note in the event log says the audit lacks them.
    func recordFinalObjects(loopID: String, state: inout DriveState, logger: Logger) async throws {
        var snapshots: [SnapshotRecord] = []
        var lastError: LoopError?
        var delay = schedule.firstPollInterval
        let attempts = schedule.finalObjectsAttempts
        for attempt in 0..<attempts {
            do {
                snapshots = try await state.session.finalObjects(id: loopID, threadID: state.threadID)
                lastError = nil
                break
            } catch {
                if error.kind == .cancelled { throw CancellationError() }
                lastError = error
                if let status = error.status, [401, 403, 404].contains(status) { break }
                if attempt < attempts - 1 {
                    try await clock.sleep(for: delay)
                    delay = schedule.growing(delay)
                }
            }
        }
        if let lastError {
            logger.warning("could not read the run's final steps and messages", metadata: ["run_id": "\(loopID)", "error": "\(lastError)"])
            state.recorder.note("toolworker.audit_incomplete", ["error": .string("\(lastError)")], stream: state.stream)
            try await state.recorder.flush()
            return
        }
        journal.enqueueProgress(runKey: state.runKey, events: [], snapshots: snapshots, run: nil)
        state.recorder.recordUsage(state.session.usage(inFinal: snapshots))
        try await journal.flush()
    }

    /// The loop is over: make sure the journal says so, and report.
    func finish(state: inout DriveState, logger: Logger) async throws -> RunOutcome {
        try await state.recorder.flush()
        let loop = state.machine.loop
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
        try await journal.endRun(runKey: state.runKey, status: status, lastError: ["code": .string(code), "message": .string(message)])
        logger.error("run could not be followed", metadata: ["run_id": "\(state.loopID ?? "?")", "error": "\(message)"])
        WorkerMetrics.runEnded(status, rounds: state.rounds)
        var outcome = RunOutcome(
            runKey: state.runKey, runID: state.loopID, threadID: state.threadID, status: status, detail: message,
            rounds: state.rounds, finalText: nil, errorCode: code)
        outcome.rateLimitWait = state.rateLimitWait
        return outcome
    }
}
