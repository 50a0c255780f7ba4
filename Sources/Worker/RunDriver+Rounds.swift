import Foundation
import Journal
import Logging
import Synchronization
import ToolRunner
import WireFormat
import WorkModel

extension RunDriver {
    /// Checks a round the server asks outputs for and asks for the approvals its calls need.
    func openRound(_ calls: [ToolCall], state: inout DriveState, logger: Logger) async throws -> LoopMachine.Input {
        state.round = RoundInProgress(calls: calls)
        if let refusal = try await roundRefusal(calls, state: state) {
            return .roundRefused(code: refusal.code, message: refusal.message)
        }
        if let held = try await budgetVerdict(state: &state, upcoming: calls, logger: logger) { return held }
        // Calls whose tool wants a person's word wait for it, durably, before anything of the round runs.
        return try await requestApprovals(calls, state: &state, logger: logger)
    }

    /// Answers the round's calls (what each one gets is decided by ``ToolDispatcher/plan(_:previous:)``: outputs
    /// already stored, after a crash, are submitted again, never recomputed; a call that was running when the
    /// process died is rerun or answered "interrupted" per its `on_restart`), then confirms the lease.
    func answerRound(state: inout DriveState, logger: Logger) async throws -> LoopMachine.Input {
        let calls = state.round.calls
        let approvals = state.round.approvals.records
        guard let loop = state.machine.loop, let loopID = state.loopID else {
            return .roundRefused(code: "lost_run", message: "lost the run before its id arrived (outputs requested without a run id)")
        }
        // One durable transaction reads what the journal has of these calls (after a crash), decides, records the
        // new ones and marks the handlers about to run as `running`.
        let dispatcher = self.dispatcher
        let roundsSoFar = state.rounds
        // Each call's tool is looked up once, in the registry of this moment, and passed down.
        let resolved = calls.map(dispatcher.registry.resolve)
        let handlers = resolved.map { ($0.call, $0.executor?.handlerDescription) }
        // A call that must never run twice (`on_restart: fail`) starts only once the journal durably says so; a round
        // of calls that may run again after a crash shares one commit (one fsync) with its outcomes.
        let durableStart = resolved.contains { $0.executor?.onRestart == .fail }
        let (known, decision) = try await journal.recordRound(runKey: state.runKey, calls: handlers, durable: durableStart) { known in
            let isNew = calls.contains { known[$0.id] == nil }
            // A round with a call not seen before is a new round, even when the server reuses an earlier call_id in it.
            let round = isNew ? roundsSoFar + 1 : (known[calls.first?.id ?? ""]?.round ?? roundsSoFar)
            let starting = resolved.filter { call in
                dispatcher.plan(call, previous: known[call.call.id].map { PreviousAttempt(state: $0.state, output: $0.output) }).runsHandler
            }
            return AuditStore.RoundDecision(round: round, isNew: isNew, startingNow: starting.map(\.call.id))
        }
        if decision.isNew { state.rounds += 1 }
        let round = decision.round
        let plans = resolved.map { call in
            dispatcher.plan(call, previous: known[call.call.id].map { PreviousAttempt(state: $0.state, output: $0.output) })
        }
        try journal.throwIfEnqueuedWritesFailed()
        // A call_id answered in an earlier round and asked for again: it is the same call, so it gets its stored output
        // and its handler never runs twice; the event log says so.
        let reused = calls.filter { call in known[call.id].map { $0.round < round && $0.output != nil } ?? false }
        if !reused.isEmpty {
            state.recorder.note(
                "toolworker.output_reused",
                ["round": .int(Int64(round)), "call_ids": .array(reused.map { .string($0.id) }),
                 "from_rounds": .array(reused.compactMap { known[$0.id].map { .int(Int64($0.round)) } })],
                stream: state.stream)
            logger.warning("the server asked again for calls answered in an earlier round; their stored outputs are sent", metadata: [
                "run_id": "\(loopID)", "call_ids": "\(reused.map(\.id).joined(separator: ","))",
            ])
        }
        logger.info("dispatching tool calls", metadata: ["run_id": "\(loopID)", "round": "\(round)", "calls": "\(calls.count)"])

        var deadline: ContinuousClock.Instant?
        if let expiresAt = loop.expiresAt {
            let remaining = Double(expiresAt) - clock.now().unixSeconds
            deadline = .now + .milliseconds(Int64(remaining * 1000)) - schedule.expiryMargin
        }
        let context = ToolCallContext(runID: loopID, threadID: loop.threadID ?? state.threadID ?? "")
        let journal = self.journal
        let runKey = state.runKey
        let log = logger
        let fixedDeadline = deadline
        let handlerTimes = HandlerClock()
        // The recorder is idle while the handlers run: their live output takes the next event numbers, and the
        // recorder goes on after them.
        let live = LiveOutputJournal(
            journal: journal, runKey: runKey, stream: state.stream, nextSeq: state.recorder.nextSeq, secrets: dispatcher.secrets)
        defer { state.recorder.continue(at: live.close()) }
        let outputs: [ToolOutput] = try await withThrowingTaskGroup(of: (Int, ToolOutput).self) { group in
            for (index, (resolvedCall, plan)) in zip(resolved, plans).enumerated() {
                let call = resolvedCall.call
                group.addTask {
                    let outcome: ToolCallOutcome
                    var handlerDuration: Duration?
                    switch plan {
                    case .reuse(let output):
                        return (index, ToolOutput(toolCallID: call.id, output: output, kind: call.kind))
                    case .answerInterrupted:
                        outcome = .interrupted()
                    case .run:
                        if let refused = Self.refusal(approvals[call.id]) {
                            outcome = refused
                        } else {
                            let handlerStart = ContinuousClock.now
                            outcome = try await dispatcher.execute(
                                resolvedCall, context: context, deadline: fixedDeadline, live: live.sink(call.id))
                            live.finish(call.id)
                            handlerDuration = ContinuousClock.now - handlerStart
                            handlerTimes.record(handlerDuration!)
                        }
                    }
                    WorkerMetrics.toolCallEnded(resolvedCall, state: outcome.state, duration: handlerDuration)
                    try await journal.recordToolCallOutcome(runKey: runKey, callID: call.id, outcome: outcome)
                    let level: Logger.Level = outcome.state == .succeeded ? .info : .warning
                    log.log(level: level, "tool call ended", metadata: [
                        "run_id": "\(context.runID)", "tool": "\(call.name)", "call_id": "\(call.id)",
                        "state": "\(outcome.state.rawValue)", "duration_ms": "\(outcome.finishedAt - outcome.startedAt)",
                    ])
                    return (index, ToolOutput(toolCallID: call.id, output: outcome.output, kind: call.kind))
                }
            }
            var collected = [ToolOutput?](repeating: nil, count: calls.count)
            for try await (index, output) in group { collected[index] = output }
            return collected.compactMap { $0 }
        }
        if let onRound, let received = state.requiresActionAt {
            onRound(RoundTiming(requiresActionAt: received, submitAt: .now, longestHandler: handlerTimes.longest, calls: calls.count))
        }
        state.round.outputs = outputs
        if let leases, try await !leases.confirm(state.runKey, journal) {
            // Another daemon holds the run now: it answers the round from the journal, not us.
            return .leaseLost
        }
        return .roundAnswered
    }

    /// Submits every output of the round in one streaming request.
    func submit(state: inout DriveState, logger: Logger) async throws -> LoopMachine.Input {
        guard let loop = state.machine.loop else { return .submitFailed(LoopError(.invalidArgument, message: "no run to submit to")) }
        let outputs = state.round.outputs
        let span = beginChat("submit", state: &state)
        do {
            let session = state.session
            state.openStream = try await within(span) { () async throws(LoopError) in try await session.submit(outputs, for: loop) }
        } catch {
            endChat(error, state: &state)
            if error.kind == .cancelled { throw CancellationError() }
            return .submitFailed(error)
        }
        try await journal.markSubmitted(runKey: state.runKey, callIDs: outputs.map(\.toolCallID), via: .submit)
        logger.info("submitted tool outputs", metadata: ["run_id": "\(state.loopID ?? "?")", "outputs": "\(outputs.count)"])
        state.round = RoundInProgress()
        return .submitted
    }
}

extension RunDriver {
    /// Why a round must not be answered at all: more rounds than the loop may take, too many calls, or too many
    /// argument bytes. A round the journal already holds (a restart inside it) is never refused for its number.
    func roundRefusal(_ calls: [ToolCall], state: DriveState) async throws -> (code: String, message: String)? {
        if Set(calls.map(\.id)).count < calls.count {
            let duplicated = Dictionary(grouping: calls, by: \.id).filter { $0.value.count > 1 }.keys.sorted()
            return ("duplicate_call_id", "the round asks for more than one call with call_id \(duplicated.joined(separator: ", ")): outputs are keyed by call_id, so they cannot all be answered")
        }
        if calls.count > maxCallsPerRound {
            return ("too_many_calls", "the round asks for \(calls.count) tool calls; max_calls_per_round is \(maxCallsPerRound)")
        }
        let argumentBytes = calls.reduce(0) { $0 + $1.arguments.utf8.count }
        if argumentBytes > maxArgumentBytes {
            return ("arguments_too_large", "the round's tool call arguments add up to \(argumentBytes) bytes; max_argument_bytes is \(maxArgumentBytes)")
        }
        guard state.rounds >= state.maxRounds else { return nil }
        let known = Set(try await journal.toolCalls(runKey: state.runKey).map(\.callID))
        guard calls.contains(where: { !known.contains($0.id) }) else { return nil }
        return ("max_rounds", "the model asked for round \(state.rounds + 1); max_rounds is \(state.maxRounds)")
    }
}

/// The longest handler duration of a round, recorded from its parallel tasks.
final class HandlerClock: Sendable {
    private let value = Mutex<Duration>(.zero)
    func record(_ duration: Duration) { value.withLock { $0 = max($0, duration) } }
    var longest: Duration { value.withLock { $0 } }
}
