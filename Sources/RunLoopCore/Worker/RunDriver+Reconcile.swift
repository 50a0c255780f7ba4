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
            state.recorder.note("toolworker.reconciled", ["reason": .string(reason), "status": .string(run.status?.rawValue ?? "?")], stream: state.stream)
            try await store.updateRun(runKey: state.runKey, run: run)
            guard let status = run.status else { return nil }
            if status.isTerminal {
                try await recordServerObjects(runID: runID, threadID: threadID, state: &state)
                return nil
            }
            if status == .requiresAction {
                return try await answerRound(state: &state, logger: logger)
            }
            // queued, in_progress, cancelling: no stream to re-attach to; poll. A run that outlives its
            // expires_at by far is not going anywhere: stop following it rather than poll forever.
            if let expiresAt = run.expiresAt, Double(expiresAt) + pollPastExpiry < Date().timeIntervalSince1970 {
                _ = try await finishWithError(
                    "the run is still \(status.rawValue) long after its expires_at; stopped following it",
                    code: "lost_run", state: &state, logger: logger)
                return nil
            }
            try await Task.sleep(for: interval)
            interval = min(interval * 2, maxPollInterval)
        }
    }

    /// After a run ended without a stream: store the steps and messages the server holds, so the history shows
    /// what the stream would have.
    func recordServerObjects(runID: String, threadID: String, state: inout DriveState) async throws {
        guard let steps = try? await client.listRunSteps(threadID: threadID, runID: runID),
            let messages = try? await client.listMessages(threadID: threadID, runID: runID)
        else { return }
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

    /// The create request failed. When it may have reached the server, look for the run by its metadata before
    /// giving up, so a retry never starts a second run.
    func startFailed(_ error: any Error, request: RunRequest, state: inout DriveState, logger: Logger) async throws -> RunOutcome {
        if case .transport(let transport) = error as? AssistantsError, transport.requestMayHaveBeenSent, let threadID = request.threadID {
            if let runs = try? await client.listRuns(threadID: threadID),
                let adopted = runs.last(where: { $0.metadata?["toolworker_run"]?.stringValue == String(state.runKey) })
            {
                logger.notice("the create request reached the server after all; following that run", metadata: ["run_id": "\(adopted.id ?? "?")"])
                state.runID = adopted.id
                state.threadID = threadID
                state.run = adopted
                try await store.updateRun(runKey: state.runKey, run: adopted)
                return try await follow(first: .reconcile(reason: "create answer lost"), state: &state, logger: logger)
            }
        }
        let code: String
        if case .api(let apiError) = error as? AssistantsError { code = apiError.code ?? "http_\(apiError.status)" } else { code = "start_failed" }
        return try await finishWithError("could not start the run: \(error)", code: code, state: &state, logger: logger)
    }
}
