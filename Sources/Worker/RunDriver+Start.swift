import Foundation
import Journal
import Logging
import WireFormat
import WorkModel

extension RunDriver {
    /// Starts the loop (preparing its container first, when the protocol has one) and follows it.
    ///
    /// A start request is never repeated blind. The container comes first and is stored before the loop is
    /// started, and the loop carries our run key in its metadata; after an answer that leaves open whether the
    /// server acted (a 5xx, a time-out or a dropped connection after sending, a 2xx that is not an event stream),
    /// the server is asked for a loop with our key, and the loop is started again only when there is none.
    func start(_ request: RunRequest, state: inout DriveState, logger: Logger) async throws -> RunOutcome {
        if request.threadID == nil {
            let prepared: String?
            do {
                prepared = try await state.session.prepare(request, runKey: state.runKey)
            } catch {
                if error.kind == .cancelled { throw CancellationError() }
                return try await finishWithError(
                    "could not prepare the run: \(error)", code: error.startErrorCode, state: &state, logger: logger)
            }
            if let threadID = prepared {
                try await store.setRunThread(runKey: state.runKey, threadID: threadID)
                if let jobID = request.jobID { try await store.setJobThread(id: jobID, threadID: threadID) }
                state.threadID = threadID
            }
        }
        var attempt = 0
        while true {
            let failure: LoopError
            do {
                let stream = try await state.session.start(request, runKey: state.runKey, threadID: state.threadID)
                return try await follow(first: .stream(stream), state: &state, logger: logger)
            } catch let error as LoopError {
                failure = error
            }
            if failure.kind == .cancelled { throw CancellationError() }
            if failure.mayHaveActed {
                do {
                    if let found = try await state.session.find(runKey: state.runKey, threadID: state.threadID) {
                        logger.notice(
                            "the create request reached the server after all; following that run",
                            metadata: ["run_id": "\(found.id ?? "?")", "error": "\(failure)"])
                        try await adopt(found, state: &state)
                        return try await follow(first: .reconcile(reason: "create answer lost: \(failure)"), state: &state, logger: logger)
                    }
                } catch let error as LoopError {
                    // Whether the loop exists cannot be told: starting another could run the tool calls twice.
                    return try await finishWithError(
                        "could not start the run (\(failure)), and asking the server whether it exists failed: \(error)",
                        code: "start_unknown", state: &state, logger: logger)
                }
            }
            guard failure.isPassing, attempt < state.backend.maxStartRetries else {
                return try await finishWithError(
                    "could not start the run: \(failure)", code: failure.startErrorCode, state: &state, logger: logger)
            }
            let delay = state.backend.retryDelay(attempt: attempt)
            attempt += 1
            if failure.mayHaveActed {
                // The abandoned attempt, for the audit: the server may hold a loop nobody follows.
                state.recorder.note(
                    "toolworker.start_abandoned", ["error": .string(failure.message), "attempt": .int(Int64(attempt))], stream: state.stream)
            }
            logger.notice(
                "the server has no run for this key; creating it again",
                metadata: ["attempt": "\(attempt)", "delay_ms": "\(delay.milliseconds)", "error": "\(failure)"])
            try await Task.sleep(for: delay)
        }
    }

    /// Takes `loop` as the one this drive follows, durably.
    func adopt(_ loop: LoopState, state: inout DriveState) async throws {
        state.loopID = loop.id
        state.threadID = loop.threadID ?? state.threadID
        state.loop = loop
        try await store.updateRun(runKey: state.runKey, run: loop.record)
    }
}
