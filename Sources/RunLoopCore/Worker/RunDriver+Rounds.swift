import Foundation
import Logging
import Synchronization

extension RunDriver {
    /// Answers the run's pending tool calls and submits every output in one streaming request.
    ///
    /// Outputs already stored for a call (a round interrupted by a crash) are submitted again, never recomputed; a
    /// call that was running when the process died is rerun or answered "interrupted" per its `on_restart`.
    func answerRound(state: inout DriveState, logger: Logger) async throws -> Step {
        guard let run = state.run, let runID = run.id ?? state.runID, let threadID = run.threadID ?? state.threadID else {
            return .reconcile(reason: "requires_action without a run or thread id")
        }
        let calls = run.requiredToolCalls
        let known = Dictionary(
            (try await store.toolCalls(runKey: state.runKey)).map { ($0.callID, $0) }, uniquingKeysWith: { first, _ in first })
        let isNewRound = calls.contains { known[$0.id] == nil }
        if isNewRound {
            state.rounds += 1
            store.incrementRounds(runKey: state.runKey)
        }
        let round = known[calls.first?.id ?? ""]?.round ?? state.rounds
        let registry = dispatcher.registry
        // Calls that will run now: not answered yet, and not interrupted ones whose handler must not run twice.
        let startingNow = calls.filter { call in
            guard let previous = known[call.id] else { return true }
            if previous.output != nil { return false }
            return !(previous.state == "running" && registry.handler(for: call.name)?.onRestart == .fail)
        }.map(\.id)
        try await store.recordToolCalls(
            runKey: state.runKey, round: round,
            calls: calls.map { ($0, registry.handler(for: $0.name)?.command.joined(separator: " ")) }, startingNow: startingNow)
        try store.throwIfEnqueuedWritesFailed()
        logger.info("dispatching tool calls", metadata: ["run_id": "\(runID)", "round": "\(round)", "calls": "\(calls.count)"])

        var deadline: ContinuousClock.Instant?
        if let expiresAt = run.expiresAt {
            let remaining = Double(expiresAt) - Date().timeIntervalSince1970
            deadline = .now + .milliseconds(Int64(remaining * 1000)) - expiryMargin
        }
        let context = ToolCallContext(runID: runID, threadID: threadID)
        let store = self.store
        let dispatcher = self.dispatcher
        let runKey = state.runKey
        let log = logger
        let fixedDeadline = deadline
        let handlerTimes = HandlerClock()
        let outputs: [ToolOutput] = try await withThrowingTaskGroup(of: (Int, ToolOutput).self) { group in
            for (index, call) in calls.enumerated() {
                let previous = known[call.id]
                group.addTask {
                    if let previous, let output = previous.output {
                        return (index, ToolOutput(toolCallID: call.id, output: output))
                    }
                    let outcome: ToolCallOutcome
                    if let previous, previous.state == "running",
                        dispatcher.registry.handler(for: call.name)?.onRestart == .fail
                    {
                        let now = unixMilliseconds()
                        outcome = ToolCallOutcome(
                            state: .interrupted, error: .interrupted,
                            output: #"{"error":{"type":"interrupted","message":"The tool call was interrupted by a restart of the worker and is not run twice."}}"#,
                            startedAt: now, finishedAt: now)
                    } else {
                        let handlerStart = ContinuousClock.now
                        outcome = try await dispatcher.execute(call, context: context, deadline: fixedDeadline)
                        handlerTimes.record(ContinuousClock.now - handlerStart)
                    }
                    try await store.recordToolCallOutcome(runKey: runKey, callID: call.id, outcome: outcome)
                    let level: Logger.Level = outcome.state == .succeeded ? .info : .warning
                    log.log(level: level, "tool call ended", metadata: [
                        "run_id": "\(context.runID)", "tool": "\(call.name)", "call_id": "\(call.id)",
                        "state": "\(outcome.state.rawValue)", "duration_ms": "\(outcome.finishedAt - outcome.startedAt)",
                    ])
                    return (index, ToolOutput(toolCallID: call.id, output: outcome.output))
                }
            }
            var collected = [ToolOutput?](repeating: nil, count: calls.count)
            for try await (index, output) in group { collected[index] = output }
            return collected.compactMap { $0 }
        }
        if let onRound, let received = state.requiresActionAt {
            onRound(RoundTiming(requiresActionAt: received, submitAt: .now, longestHandler: handlerTimes.longest, calls: calls.count))
        }
        do {
            let response = try await client.submitToolOutputs(threadID: threadID, runID: runID, outputs: outputs)
            try await store.markSubmitted(runKey: state.runKey, callIDs: outputs.map(\.toolCallID))
            logger.info("submitted tool outputs", metadata: ["run_id": "\(runID)", "outputs": "\(outputs.count)"])
            return .stream(response)
        } catch {
            logger.warning("submitting tool outputs failed; reconciling", metadata: ["run_id": "\(runID)", "error": "\(error)"])
            state.recorder.note("toolworker.submit_failed", ["error": .string("\(error)")], stream: state.stream)
            return .reconcile(reason: "submit failed: \(error)")
        }
    }
}

/// The longest handler duration of a round, recorded from its parallel tasks.
final class HandlerClock: Sendable {
    private let value = Mutex<Duration>(.zero)
    func record(_ duration: Duration) { value.withLock { $0 = max($0, duration) } }
    var longest: Duration { value.withLock { $0 } }
}
