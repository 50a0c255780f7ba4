import Journal
import Logging
import WireFormat
import WorkModel

extension RunDriver {
    /// What performing an action came to.
    enum Performed {
        /// Nothing to tell the machine (a note, a log line).
        case done
        /// The answer the machine waits for.
        case input(LoopMachine.Input)
        /// The drive is over.
        case ended(RunOutcome)
    }

    /// Performs one of the machine's actions. A request's cancellation is thrown (the task is being cancelled);
    /// every other failure becomes an input.
    func perform(_ action: LoopMachine.Action, state: inout DriveState, logger: Logger) async throws -> Performed {
        switch action {
        case .prepare:
            return .input(try await prepare(state: &state))
        case .start:
            if let held = try await budgetVerdict(state: &state, upcoming: [], logger: logger) { return .input(held) }
            let span = beginChat("start", state: &state)
            do {
                let (session, request, runKey, threadID) = (state.session, state.request, state.runKey, state.threadID)
                state.openStream = try await within(span) { () async throws(LoopError) in
                    try await session.start(request, runKey: runKey, threadID: threadID)
                }
                return .input(.streamOpened)
            } catch {
                endChat(error, state: &state)
                if error.kind == .cancelled { throw CancellationError() }
                state.rateLimitWait = error.rateLimitWait
                return .input(.startFailed(error))
            }
        case .failover(let failure):
            return .input(try await failOver(failure, state: &state, logger: logger))
        case .find:
            do {
                return .input(.found(try await state.session.find(runKey: state.runKey, threadID: state.threadID)))
            } catch {
                if error.kind == .cancelled { throw CancellationError() }
                return .input(.findFailed(error))
            }
        case .adopt(let loop):
            state.threadID = loop.threadID ?? state.threadID
            try await journal.updateRun(runKey: state.runKey, run: loop.record)
            return .done
        case .consumeStream:
            if let interruption = checkpoint(state: state) { return .input(interruption) }
            guard let stream = state.openStream else { return .input(.streamEnded(.broken("no stream was opened"), sawEvents: false)) }
            state.openStream = nil
            state.stream += 1
            let end = await consume(stream, state: &state)
            if case .streamEnded(.complete, _) = end { endChat(nil, state: &state) } else {
                endChat(LoopError(.transport(mayHaveBeenSent: true), code: "stream_broken", message: "\(end)"), state: &state)
            }
            // Queued, not awaited: the next awaited write (the round's tool calls, or the finish) makes these
            // durable first, as the writer commits in order.
            state.recorder.push()
            return .input(end)
        case .retrieve(let first):
            if let interruption = checkpoint(state: state) { return .input(interruption) }
            if first { WorkerMetrics.reconciliations.increment() }
            guard let loopID = state.loopID else { return .input(.retrieveFailed(LoopError(.invalidArgument, message: "no run id"))) }
            do {
                return .input(.retrieved(try await state.session.retrieve(id: loopID, threadID: state.threadID)))
            } catch {
                if error.kind == .cancelled { throw CancellationError() }
                return .input(.retrieveFailed(error))
            }
        case .recordRetrieved(let loop, let reason, let statusChanged):
            try await recordRetrieved(loop, reason: reason, statusChanged: statusChanged, state: &state, logger: logger)
            return .done
        case .resume:
            guard let loopID = state.loopID else { return .input(.resumeDeclined) }
            let span = beginChat("resume", state: &state)
            do {
                let session = state.session
                guard let stream = try await within(span, { () async throws(LoopError) in try await session.resume(id: loopID) }) else {
                    endChat(nil, state: &state)
                    return .input(.resumeDeclined)
                }
                state.openStream = stream
                return .input(.streamOpened)
            } catch {
                endChat(error, state: &state)
                if error.kind == .cancelled { throw CancellationError() }
                return .input(.resumeFailed(error))
            }
        case .resend:
            let span = beginChat("resend", state: &state)
            do {
                let session = state.session
                guard let stream = try await within(span, { () async throws(LoopError) in try await session.retryLast() }) else {
                    endChat(nil, state: &state)
                    return .input(.resendDeclined)
                }
                state.openStream = stream
                return .input(.streamOpened)
            } catch {
                endChat(error, state: &state)
                if error.kind == .cancelled { throw CancellationError() }
                return .input(.resendFailed(error))
            }
        case .openRound(let calls):
            return .input(try await openRound(calls, state: &state, logger: logger))
        case .checkBudgetApproval(let id):
            return .input(try await checkBudgetApproval(id, state: &state))
        case .checkApprovals:
            if let interruption = checkpoint(state: state) { return .input(interruption) }
            return .input(try await readApprovals(state: &state))
        case .expireApprovals(let pending):
            return .input(try await expireApprovals(pending, state: &state))
        case .answerRound:
            return .input(try await answerRound(state: &state, logger: logger))
        case .submit:
            return .input(try await submit(state: &state, logger: logger))
        case .sleep(let duration):
            try await clock.sleep(for: duration)
            return .input(.timerFired)
        case .note(let name, let detail):
            state.recorder.note(name, detail, stream: state.stream)
            return .done
        case .log(let level, let message, let fields):
            var metadata: Logger.Metadata = ["run_id": "\(state.loopID ?? "?")"]
            for (key, value) in fields { metadata[key] = "\(value)" }
            logger.log(level: level, "\(message)", metadata: metadata)
            return .done
        case .finish:
            return .ended(try await finish(state: &state, logger: logger))
        case .fail(let code, let message, let status):
            return .ended(try await finishWithError(message, code: code, status: status, state: &state, logger: logger))
        case .suspend(let detail):
            try await state.recorder.flush()
            logger.notice("run suspended for shutdown; it resumes at the next start", metadata: ["run_id": "\(state.loopID ?? "?")"])
            WorkerMetrics.runEnded(.suspended, rounds: state.rounds)
            return .ended(RunOutcome(
                runKey: state.runKey, runID: state.loopID, threadID: state.threadID, status: .suspended, detail: detail,
                rounds: state.rounds, finalText: nil))
        case .abandon:
            logger.warning("lease lost: another daemon took this run over; no longer driving it", metadata: ["run_id": "\(state.loopID ?? "?")"])
            WorkerMetrics.leasesLost.increment()
            return .ended(RunOutcome(
                runKey: state.runKey, runID: state.loopID, threadID: state.threadID, status: .suspended,
                detail: "lease lost to another daemon", rounds: state.rounds, finalText: nil))
        }
    }

    /// Moves a loop that never started (its provider failed with `failure`) to the next `fallback:` provider that
    /// speaks its protocol: the run's request, model and container are rewritten in the journal first, so a restart
    /// goes on with the new provider; a model alias is resolved again there.
    private func failOver(_ failure: LoopError, state: inout DriveState, logger: Logger) async throws -> LoopMachine.Input {
        let protocolName = state.request.protocolName
        while !state.fallbacks.isEmpty {
            let next = state.fallbacks.removeFirst()
            guard let backend = next.backends[protocolName] else { continue }
            let from = state.provider.name
            var request = state.request
            request.provider = next.name
            if let alias = request.modelAlias { request.model = next.resolve(model: alias) }
            try await journal.moveRun(runKey: state.runKey, request: .object(request.summary), model: request.model)
            state.request = request
            state.provider = next
            state.backend = backend
            state.session = backend.makeSession(policy: policy, tools: dispatcher.registry.definitions)
            state.threadID = nil
            state.movedFrom = state.movedFrom ?? from
            state.recorder.provider = next.name
            state.recorder.model = request.model
            state.machine.failoverAvailable = state.fallbacks.contains { $0.backends[protocolName] != nil }
            state.recorder.note("toolworker.failover", ["from": .string(from), "to": .string(next.name), "error": .string(failure.message)], stream: state.stream)
            WorkerMetrics.failover(from: from, to: next.name)
            logger.warning("the loop could not start on its provider; moving it to the next of the fallback chain", metadata: [
                "from": "\(from)", "to": "\(next.name)", "error": "\(failure)",
            ])
            return .failedOver(needsContainer: true)
        }
        return .noFallback
    }

    /// A lost lease or a shutdown, noticed before a stream is read, the server asked, or an approval awaited.
    func checkpoint(state: DriveState) -> LoopMachine.Input? {
        if leases?.isLost(state.runKey) == true { return .leaseLost }
        if shutdown?.isTriggered == true { return .shutdown }
        return nil
    }

    /// Creates the loop's container, durably, before the loop is started.
    private func prepare(state: inout DriveState) async throws -> LoopMachine.Input {
        let prepared: String?
        do {
            prepared = try await state.session.prepare(state.request, runKey: state.runKey)
        } catch {
            if error.kind == .cancelled { throw CancellationError() }
            return .prepareFailed(error)
        }
        if let threadID = prepared {
            try await journal.setRunThread(runKey: state.runKey, threadID: threadID)
            // A job's later attempts start on its own provider again: a fallback's container is not theirs.
            if let jobID = state.request.jobID, state.movedFrom == nil { try await journal.setJobThread(id: jobID, threadID: threadID) }
            state.threadID = threadID
        }
        return .prepared
    }
}
