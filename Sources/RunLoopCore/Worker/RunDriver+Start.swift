import Foundation
import Logging

extension RunDriver {
    /// Creates the run (on a thread of its own first, when none is given) and follows it.
    ///
    /// A create request is never repeated blind. The thread comes first and is stored before the run is created,
    /// and the run carries our run key in its metadata; after an answer that leaves open whether the server acted
    /// (a 5xx, a time-out or a dropped connection after sending, a 2xx that is not an event stream), the thread's
    /// runs are listed and the run is created again only when none carries the key.
    func start(_ request: RunRequest, state: inout DriveState, logger: Logger) async throws -> RunOutcome {
        var request = request
        if request.threadID == nil && request.createsThreadFirst {
            do {
                let thread = try await client.createThread(metadata: ["toolworker_run": .string(String(state.runKey))])
                guard let id = thread.id else { throw AssistantsError.invalidResponse("POST /threads: a thread without an id") }
                try await store.setRunThread(runKey: state.runKey, threadID: id)
                request.threadID = id
                state.threadID = id
            } catch let error as AssistantsError where [404, 405, 501].contains(error.status ?? 0) {
                logger.warning("the server cannot create an empty thread; using create-thread-and-run", metadata: ["error": "\(error)"])
            } catch let error as AssistantsError {
                return try await finishWithError(
                    "could not create a thread for the run: \(error)", code: Self.errorCode(error), state: &state, logger: logger)
            }
        }
        let body = request.body(runKey: state.runKey)
        var attempt = 0
        while true {
            let failure: AssistantsError
            do {
                let response: EventStreamResponse
                if let threadID = request.threadID {
                    response = try await client.createRun(threadID: threadID, body)
                } else {
                    response = try await client.createThreadAndRun(body)
                }
                return try await follow(first: .stream(response), state: &state, logger: logger)
            } catch let error as AssistantsError {
                failure = error
            }
            if case .cancelled = failure { throw CancellationError() }
            if Self.mayHaveActed(failure) && request.threadID == nil {
                // Create-thread-and-run (a server without POST /threads): nothing to look the run up on.
                return try await finishWithError(
                    "could not start the run (\(failure)), and without a thread the server cannot be asked whether it exists",
                    code: "start_unknown", state: &state, logger: logger)
            }
            if Self.mayHaveActed(failure), let threadID = request.threadID {
                do {
                    if let created = try await findCreatedRun(threadID: threadID, runKey: state.runKey) {
                        logger.notice(
                            "the create request reached the server after all; following that run",
                            metadata: ["run_id": "\(created.id ?? "?")", "error": "\(failure)"])
                        try await adopt(created, threadID: threadID, state: &state)
                        return try await follow(first: .reconcile(reason: "create answer lost: \(failure)"), state: &state, logger: logger)
                    }
                } catch {
                    // Whether the run exists cannot be told: creating another could run the tool calls twice.
                    return try await finishWithError(
                        "could not start the run (\(failure)), and listing the thread's runs to check failed: \(error)",
                        code: "start_unknown", state: &state, logger: logger)
                }
            }
            guard Self.isRetryableCreateFailure(failure), attempt < client.configuration.retry.maxRetries else {
                return try await finishWithError(
                    "could not start the run: \(failure)", code: Self.errorCode(failure), state: &state, logger: logger)
            }
            let delay = client.configuration.retry.delay(attempt: attempt, head: nil)
            attempt += 1
            logger.notice(
                "the server has no run for this key; creating it again",
                metadata: ["attempt": "\(attempt)", "delay_ms": "\(delay.milliseconds)", "error": "\(failure)"])
            try await Task.sleep(for: delay)
        }
    }

    /// The run the server holds on `threadID` with our key in its metadata, if any.
    func findCreatedRun(threadID: String, runKey: Int64) async throws -> Run? {
        try await client.listRuns(threadID: threadID).last { $0.metadata?["toolworker_run"]?.stringValue == String(runKey) }
    }

    /// Takes `run` as the one this drive follows, durably.
    func adopt(_ run: Run, threadID: String, state: inout DriveState) async throws {
        state.runID = run.id
        state.threadID = run.threadID ?? threadID
        state.run = run
        try await store.updateRun(runKey: state.runKey, run: run)
    }

    /// Whether the server may have created the run although the answer says otherwise.
    static func mayHaveActed(_ error: AssistantsError) -> Bool {
        switch error {
        case .api(let api): return api.status >= 500
        case .transport(let transport): return transport.requestMayHaveBeenSent
        case .invalidResponse: return true
        case .invalidArgument, .cancelled: return false
        }
    }

    /// Failures after which creating the run again is worth it (once the server is known to have no run for it).
    static func isRetryableCreateFailure(_ error: AssistantsError) -> Bool {
        switch error {
        case .api(let api): return api.status >= 500 || RetryPolicy.notProcessedStatuses.contains(api.status)
        case .transport(let transport): return transport.kind != .cancelled
        case .invalidResponse, .invalidArgument, .cancelled: return false
        }
    }

    static func errorCode(_ error: AssistantsError) -> String {
        if case .api(let api) = error { return api.code ?? "http_\(api.status)" }
        return "start_failed"
    }
}
