import Foundation
import Logging

extension RunDriver {
    /// Asks the server where the run stands and decides the next step: `nil` when it is terminal, a new round
    /// when it waits for outputs, polling (with backoff) while it is queued or working.
    func reconcile(reason: String, state: inout DriveState, logger: Logger) async throws -> Step? {
        guard let runID = state.runID, let threadID = state.threadID else {
            _ = try await finishWithError("lost the run before its id arrived (\(reason))", code: "lost_run", state: &state, logger: logger)
            return nil
        }
        var interval: Duration = .milliseconds(250)
        var failures = 0
        let pollingSince = ContinuousClock.now
        var notedStatus: RunStatus?
        while true {
            let run: Run
            do {
                run = try await client.retrieveRun(threadID: threadID, runID: runID)
                failures = 0
            } catch {
                failures += 1
                logger.warning("retrieving the run failed", metadata: ["run_id": "\(runID)", "error": "\(error)", "attempt": "\(failures)"])
                if case .api(let apiError) = error, apiError.status == 404 || apiError.status == 401 || apiError.status == 403 {
                    _ = try await finishWithError("the server no longer answers for this run: \(apiError)", code: "lost_run", state: &state, logger: logger)
                    return nil
                }
                if failures >= 20 {
                    _ = try await finishWithError("gave up following the run: \(error)", code: "lost_run", state: &state, logger: logger)
                    return nil
                }
                try await Task.sleep(for: interval)
                interval = min(interval * 2, maxPollInterval)
                continue
            }
            state.run = run
            try await state.recorder.flush()
            // One row per change of status, not per poll: a run polled for hours leaves a handful of rows.
            let isTerminal = run.status?.isTerminal == true
            if notedStatus == nil || run.status != notedStatus {
                notedStatus = run.status
                state.recorder.note(
                    "toolworker.reconciled", ["reason": .string(reason), "status": .string(run.status?.rawValue ?? "?")],
                    stream: state.stream)
                await recordAcceptedOutputs(runID: runID, threadID: threadID, state: state, logger: logger)
                // A terminal status ends the run in the journal, and an ended run is never resumed: its final
                // steps and messages go in first, so a crash in between leaves the run open, not incomplete.
                if isTerminal { try await recordServerObjects(runID: runID, threadID: threadID, state: &state, logger: logger) }
                try await store.updateRun(runKey: state.runKey, run: run)
            }
            guard let status = run.status else { return nil }
            if isTerminal { return nil }
            if status == .requiresAction {
                return try await answerRound(state: &state, logger: logger)
            }
            // queued, in_progress, cancelling: no stream to re-attach to; poll. A run that outlives its
            // expires_at by far, or that has no expires_at and has been polled that long, is not going anywhere:
            // stop following it rather than poll forever.
            let pastExpiry = run.expiresAt.map { Double($0) + pollPastExpiry < Date().timeIntervalSince1970 }
                ?? (ContinuousClock.now - pollingSince > .milliseconds(Int64(pollPastExpiry * 1000)))
            if pastExpiry {
                _ = try await finishWithError(
                    run.expiresAt == nil
                        ? "the run is still \(status.rawValue) after \(Int(pollPastExpiry)) s of polling and has no expires_at; stopped following it"
                        : "the run is still \(status.rawValue) long after its expires_at; stopped following it",
                    code: "lost_run", state: &state, logger: logger)
                return nil
            }
            try await Task.sleep(for: interval)
            interval = min(interval * 2, maxPollInterval)
        }
    }

    /// Outputs stored before a crash but never marked submitted (the process died between the submit and its
    /// answer): the server's run steps tell which it took (their `function.output` is set). Those are recorded as
    /// submitted, learned by reconciliation; the others are submitted again by the next round as usual.
    func recordAcceptedOutputs(runID: String, threadID: String, state: DriveState, logger: Logger) async {
        guard let unsubmitted = try? await store.unsubmittedOutputs(runKey: state.runKey), !unsubmitted.isEmpty else { return }
        guard let steps = try? await client.listRunSteps(threadID: threadID, runID: runID) else { return }
        var accepted: [String] = []
        let wanted = Set(unsubmitted.map(\.callID))
        for step in steps {
            for call in step.json[path: "step_details.tool_calls"]?.arrayValue ?? [] {
                guard let id = call["id"]?.stringValue, wanted.contains(id),
                    let output = call[path: "function.output"], output != .null
                else { continue }
                accepted.append(id)
            }
        }
        guard !accepted.isEmpty else { return }
        logger.notice("outputs submitted before the restart were taken by the server", metadata: ["calls": "\(accepted.count)"])
        try? await store.markSubmitted(runKey: state.runKey, callIDs: accepted, via: .reconcile)
    }

    /// After a run ended without a stream (or after a restart): store the final snapshots of every step and
    /// message the server holds for the run (every page), so the history shows what the stream would have. Listing
    /// is retried with backoff; when it keeps failing, a note in the event log says the audit lacks them.
    func recordServerObjects(runID: String, threadID: String, state: inout DriveState, logger: Logger) async throws {
        var steps: [RunStep] = []
        var messages: [Message] = []
        var lastError: (any Error)?
        var delay: Duration = .milliseconds(250)
        for attempt in 0..<6 {
            do {
                steps = try await client.listRunSteps(threadID: threadID, runID: runID)
                messages = try await client.listMessages(threadID: threadID, runID: runID)
                lastError = nil
                break
            } catch {
                lastError = error
                if case .api(let api) = error, [401, 403, 404].contains(api.status) { break }
                if attempt < 5 {
                    try await Task.sleep(for: delay)
                    delay = min(delay * 2, maxPollInterval)
                }
            }
        }
        if let lastError {
            logger.warning("could not read the run's final steps and messages", metadata: ["run_id": "\(runID)", "error": "\(lastError)"])
            state.recorder.note("toolworker.audit_incomplete", ["error": .string("\(lastError)")], stream: state.stream)
            try await state.recorder.flush()
            return
        }
        var snapshots: [SnapshotRecord] = []
        for step in steps {
            snapshots.append(SnapshotRecord(eventSeq: nil, type: .runStep, objectID: step.id ?? "?", status: step.status, data: step.json))
        }
        for message in messages {
            snapshots.append(SnapshotRecord(eventSeq: nil, type: .message, objectID: message.id ?? "?", status: message.status, data: message.json))
            if message.id != nil { state.accumulator.absorb(message: message) }
        }
        store.enqueueProgress(runKey: state.runKey, events: [], snapshots: snapshots, run: nil)
        try await store.flush()
    }

    /// The run is terminal: make sure the store says so, and report.
    func finish(state: inout DriveState, logger: Logger) async throws -> RunOutcome {
        try await state.recorder.flush()
        let run = state.run
        let status = run?.status?.rawValue ?? "error"
        var detail: String?
        if let error = run?.lastError {
            detail = [error["code"]?.stringValue, error["message"]?.stringValue].compactMap { $0 }.joined(separator: ": ")
        } else if let incomplete = run?.incompleteDetails {
            detail = "incomplete: \(incomplete["reason"]?.stringValue ?? incomplete.serialized())"
        }
        let finalText = state.accumulator.finalMessages.last { $0.role == "assistant" }?.text
        let level: Logger.Level = status == "completed" ? .info : .warning
        logger.log(level: level, "run ended", metadata: [
            "run_id": "\(state.runID ?? "?")", "status": "\(status)", "rounds": "\(state.rounds)",
        ].merging(detail.map { ["detail": "\($0)"] } ?? [:]) { $1 })
        return RunOutcome(
            runKey: state.runKey, runID: state.runID, threadID: state.threadID, status: status, detail: detail,
            rounds: state.rounds, finalText: finalText, errorCode: run?.lastError?["code"]?.stringValue)
    }

    /// Ends the run with ToolWorker's own `error` status.
    func finishWithError(_ message: String, code: String, state: inout DriveState, logger: Logger) async throws -> RunOutcome {
        try? await state.recorder.flush()
        try await store.endRun(runKey: state.runKey, status: "error", lastError: ["code": .string(code), "message": .string(message)])
        logger.error("run could not be followed", metadata: ["run_id": "\(state.runID ?? "?")", "error": "\(message)"])
        let outcome = RunOutcome(
            runKey: state.runKey, runID: state.runID, threadID: state.threadID, status: "error", detail: message,
            rounds: state.rounds, finalText: nil, errorCode: code)
        state.errorOutcome = outcome
        return outcome
    }
}
