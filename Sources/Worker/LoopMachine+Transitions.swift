import WireFormat
import WorkModel

extension LoopMachine {
    /// Applies `input`, received at `now`, and returns what to do next.
    public mutating func handle(_ input: Input, at now: ClockReading) -> [Action] {
        let before = state
        let actions = transition(input, at: now)
        if case .streamEvent = input {} else {
            trail.append("\(Self.name(of: before)) --\(Self.name(of: input))--> \(Self.name(of: state))")
            if trail.count > 12 { trail.removeFirst(trail.count - 12) }
        }
        return actions
    }

    private mutating func transition(_ input: Input, at now: ClockReading) -> [Action] {
        switch (state, input) {
        case (.finished, _):
            return illegal(input)
        // Ends that can come at any checkpoint.
        case (_, .shutdown):
            state = .finished(.suspended)
            return [.suspend("suspended by shutdown")]
        case (_, .leaseLost):
            state = .finished(.leaseLost)
            return [.abandon]

        case (.idle, .begin(.unsupportedProtocol(let name))):
            return fail("this ToolWorker is not set up for protocol '\(name)'", code: "unsupported_protocol")
        case (.idle, .begin(.unknownProvider(let name))):
            return fail("no provider is called '\(name)' in this configuration", code: "unknown_provider")
        case (.idle, .begin(.start(let needsContainer))):
            if needsContainer {
                state = .preparing
                return [.prepare]
            }
            state = .starting(attempt: 0)
            return [.start]
        case (.idle, .begin(.resume(let knownID))):
            loopID = knownID
            guard knownID == nil else { return reconcile("resumed after restart", at: now) }
            state = .findingResumed
            return [.find]

        case (.preparing, .prepared):
            state = .starting(attempt: 0)
            return [.start]
        case (.preparing, .prepareFailed(let error)):
            if let moving = failOver(error, preparing: true) { return moving }
            return fail("could not prepare the run: \(error)", code: error.startErrorCode)

        case (.failingOver(_, _), .failedOver(let needsContainer)):
            if needsContainer {
                state = .preparing
                return [.prepare]
            }
            state = .starting(attempt: 0)
            return [.start]
        case (.failingOver(let failure, let preparing), .noFallback):
            return fail("could not \(preparing ? "prepare" : "start") the run: \(failure)", code: failure.startErrorCode)

        case (.starting, .streamOpened):
            state = .streaming(sawRequiresAction: false)
            return [.consumeStream]
        case (.starting(let attempt), .startFailed(let failure)):
            if failure.mayHaveActed {
                state = .checkingStart(attempt: attempt, failure: failure)
                return [.find]
            }
            return startAgainOrFail(attempt: attempt, failure: failure)
        case (.checkingStart(_, let failure), .found(let found?)):
            return [
                .log(.notice, "the create request reached the server after all; following that run", [
                    "run_id": found.id ?? "?", "error": "\(failure)",
                ]),
            ] + adopt(found) + reconcile("create answer lost: \(failure)", at: now)
        case (.checkingStart(let attempt, let failure), .found(nil)):
            return startAgainOrFail(attempt: attempt, failure: failure)
        case (.checkingStart(_, let failure), .findFailed(let error)):
            // Whether the loop exists cannot be told: starting another could run the tool calls twice.
            return fail(
                "could not start the run (\(failure)), and asking the server whether it exists failed: \(error)",
                code: "start_unknown")
        case (.backingOffStart(let attempt), .timerFired):
            state = .starting(attempt: attempt)
            return [.start]

        case (.findingResumed, .found(let found?)):
            return [.log(.notice, "found the run created before the restart", ["run_id": found.id ?? "?"])]
                + adopt(found) + reconcile("resumed after restart", at: now)
        case (.findingResumed, .found(nil)), (.findingResumed, .findFailed):
            return fail("the run was being created when ToolWorker stopped and the server has no run for it", code: "interrupted_start")

        case (.streaming(let saw), .streamEvent(let event)):
            loop = event
            loopID = event.id ?? loopID
            if case .needsOutputs = event.phase { state = .streaming(sawRequiresAction: true) } else { state = .streaming(sawRequiresAction: saw) }
            return []
        case (.streaming(let saw), .streamEnded(let end, let sawEvents)):
            if sawEvents { fruitlessResumes = 0 }
            return streamEnded(end, sawRequiresAction: saw, at: now)

        case (.openingRound, .roundRefused(let code, let message)):
            return fail(message, code: code, status: .failed)
        case (.starting, .budgetReached(let reason)), (.openingRound, .budgetReached(let reason)), (.awaitingBudget, .budgetReached(let reason)):
            return fail(reason, code: "budget_exceeded", status: .budgetExceeded)
        case (.starting(let attempt), .budgetApprovalPending(let id)):
            state = .awaitingBudget(id: id, gate: .start(attempt: attempt))
            return [.sleep(schedule.approvalPollInterval)]
        case (.openingRound(let calls), .budgetApprovalPending(let id)):
            state = .awaitingBudget(id: id, gate: .round(calls))
            return [.sleep(schedule.approvalPollInterval)]
        case (.awaitingBudget, .budgetApprovalPending):
            return [.sleep(schedule.approvalPollInterval)]
        case (.starting(let attempt), .budgetBusy(let reason)):
            state = .awaitingDailyBudget(gate: .start(attempt: attempt))
            return [.log(.info, "waiting before the start: \(reason)", [:]), .sleep(schedule.approvalPollInterval)]
        case (.openingRound(let calls), .budgetBusy(let reason)):
            state = .awaitingDailyBudget(gate: .round(calls))
            return [.log(.info, "waiting before the round: \(reason)", [:]), .sleep(schedule.approvalPollInterval)]
        case (.awaitingDailyBudget(.start(let attempt)), .timerFired):
            state = .starting(attempt: attempt)
            return [.start]
        case (.awaitingDailyBudget(.round(let calls)), .timerFired):
            state = .openingRound(calls)
            return [.openRound(calls)]
        case (.awaitingBudget(let id, _), .timerFired):
            return [.checkBudgetApproval(id)]
        case (.awaitingBudget(_, .start(let attempt)), .budgetApproved):
            state = .starting(attempt: attempt)
            return [.start]
        case (.awaitingBudget(_, .round(let calls)), .budgetApproved):
            state = .openingRound(calls)
            return [.openRound(calls)]
        case (.openingRound, .approvalsDecided), (.awaitingApprovals, .approvalsDecided):
            state = .answering
            return [.answerRound]
        case (.openingRound, .approvalsPending(let pending)), (.awaitingApprovals, .approvalsPending(let pending)):
            let deadline = loop?.expiresAt.map { Double($0) - schedule.expiryMargin.seconds }
            state = .awaitingApprovals(deadline: deadline)
            if let deadline, now.unixSeconds >= deadline {
                return [
                    .log(.warning, "approvals expired before a decision", ["calls": pending.joined(separator: ",")]),
                    .expireApprovals(pending),
                ]
            }
            return [.sleep(schedule.approvalPollInterval)]
        case (.awaitingApprovals, .timerFired):
            return [.checkApprovals]

        case (.answering, .roundAnswered):
            state = .submitting
            return [.submit]
        case (.submitting, .submitted):
            // The loop moved on: resumes, resends and the one retry of a broken answer start afresh.
            submitFailures = 0
            resumes = 0
            resends = 0
            retriedAfterViolation = false
            state = .streaming(sawRequiresAction: false)
            return [.consumeStream]
        case (.submitting, .submitFailed(let error)):
            return submitFailed(error, at: now)

        case (.reconciling(let reconciliation), .retrieved(let loop)):
            return retrieved(loop, reconciliation, at: now)
        case (.reconciling(let reconciliation), .retrieveFailed(let error)):
            return retrieveFailed(error, reconciliation, at: now)
        case (.polling(let reconciliation), .timerFired):
            state = .reconciling(reconciliation)
            return [.retrieve(first: false)]

        case (.resuming(let reconciliation, waited: false), .timerFired):
            state = .resuming(reconciliation, waited: true)
            return [.resume]
        case (.resuming, .streamOpened):
            fruitlessResumes += 1
            state = .streaming(sawRequiresAction: false)
            return [.consumeStream]
        case (.resuming(let reconciliation, _), .resumeDeclined):
            return poll(reconciliation, at: now)
        case (.resuming(let reconciliation, _), .resumeFailed(let error)):
            var actions: [Action] = []
            if error.isUnsupported {
                resumeUnsupported = true
                actions.append(.log(.warning, "the server cannot resume streams; polling instead", ["answer": "\(error)"]))
            }
            return actions + poll(reconciliation, at: now)

        case (.resending, .streamOpened):
            state = .streaming(sawRequiresAction: false)
            return [.consumeStream]
        case (.resending(.brokenAnswer(let violation)), .resendDeclined):
            return fail(violation.message, code: violation.code ?? "protocol_error", status: .failed)
        case (.resending(.brokenAnswer(let violation)), .resendFailed(let error)):
            return fail(
                "\(violation.message); sending the request again failed: \(error)", code: violation.code ?? "protocol_error",
                status: .failed)
        case (.resending(.lostResponse(let reconciliation, let error)), .resendDeclined):
            return retrieveFailedPastResend(error, reconciliation, at: now)
        case (.resending(.lostResponse(let reconciliation, _)), .resendFailed(let error)):
            return fail("\(reconciliation.reason); sending the request again failed: \(error)", code: "lost_run")

        default:
            return illegal(input)
        }
    }

    // MARK: Starting

    private mutating func startAgainOrFail(attempt: Int, failure: LoopError) -> [Action] {
        guard failure.isPassing, attempt < schedule.maxStartRetries else {
            if let moving = failOver(failure, preparing: false) { return moving }
            return fail("could not start the run: \(failure)", code: failure.startErrorCode)
        }
        let delay = schedule.backoff(attempt)
        var actions: [Action] = []
        if failure.mayHaveActed {
            // The abandoned attempt, for the audit: the server may hold a loop nobody follows.
            actions.append(.note("toolworker.start_abandoned", ["error": .string(failure.message), "attempt": .int(Int64(attempt + 1))]))
        }
        actions.append(.log(.notice, "the server has no run for this key; creating it again", [
            "attempt": "\(attempt + 1)", "delay_ms": "\(delay.milliseconds)", "error": "\(failure)",
        ]))
        state = .backingOffStart(attempt: attempt + 1)
        return actions + [.sleep(delay)]
    }

    /// The loop's move to the next `fallback:` provider, when one is left and `failure` is the provider's, not the
    /// request's (a transport error, 5xx, 401, 402, 403, 408, 429, a start held by its rate limit).
    private mutating func failOver(_ failure: LoopError, preparing: Bool) -> [Action]? {
        guard failoverAvailable, failure.allowsFailover else { return nil }
        state = .failingOver(failure, preparing: preparing)
        return [.failover(failure)]
    }

    private mutating func adopt(_ found: LoopState) -> [Action] {
        loop = found
        loopID = found.id
        return [.adopt(found)]
    }

    // MARK: Streams

    private mutating func streamEnded(_ end: StreamEnd, sawRequiresAction: Bool, at now: ClockReading) -> [Action] {
        if case .violation(let violation) = end { return protocolViolation(violation) }
        switch loop?.phase {
        case .ended?:
            state = .finished(.ended)
            return [.finish]
        case .needsOutputs(let calls)? where sawRequiresAction:
            // Outputs are answered straight away only when this stream asked for them; anything else (a stream that
            // ended without a word) is checked with the server first, so a round is never answered twice.
            return openRound(calls)
        default:
            let reason: String
            if case .broken(let why) = end { reason = "stream failed: \(why)" } else { reason = "stream ended before the run finished" }
            return [.log(.warning, "stream interrupted; reconciling with the server", ["reason": reason])] + reconcile(reason, at: now)
        }
    }

    /// Ends the loop for a server that broke the protocol, or sends the request once more where a second answer may
    /// be whole (a completed response with a call cut off).
    private mutating func protocolViolation(_ violation: LoopError) -> [Action] {
        guard case .protocolViolation(retryable: true) = violation.kind, !retriedAfterViolation else {
            return fail(violation.message, code: violation.code ?? "protocol_error", status: .failed)
        }
        retriedAfterViolation = true
        state = .resending(.brokenAnswer(violation))
        return [
            .log(.warning, "the server's answer is broken; sending the request once more", ["error": "\(violation)"]),
            .note("toolworker.retry_broken_answer", ["error": .string(violation.message)]),
            .resend,
        ]
    }

    // MARK: Rounds

    private mutating func openRound(_ calls: [ToolCall]) -> [Action] {
        guard loop?.id ?? loopID != nil else {
            return reconcileWithoutID("outputs requested without a run id")
        }
        state = .openingRound(calls)
        return [.openRound(calls)]
    }

    private mutating func reconcileWithoutID(_ reason: String) -> [Action] {
        fail("lost the run before its id arrived (\(reason))", code: "lost_run")
    }

    private mutating func submitFailed(_ error: LoopError, at now: ClockReading) -> [Action] {
        let note = Action.note("toolworker.submit_failed", ["error": .string("\(error)")])
        if submitRefusalIsFinal, error.isDefiniteRefusal {
            // The request itself was refused (a 400 for the new response): sending it again, or asking a server
            // that may not even retrieve, cannot help. The refusal is the cause the journal keeps.
            return [note] + fail("the server refused the round's outputs: \(error)", code: "submit_refused")
        }
        submitFailures += 1
        let warning = Action.log(.warning, "submitting tool outputs failed; reconciling", ["error": "\(error)"])
        if submitFailures >= schedule.maxSubmitFailures && !error.isPassing {
            // The server keeps asking for these outputs and keeps refusing them: stop rather than loop.
            return [note, warning] + fail("the server refused the round's outputs \(submitFailures) times: \(error)", code: "submit_refused")
        }
        return [note, warning] + reconcile("submit failed: \(error)", at: now)
    }

    // MARK: Reconciling

    /// Asks the server where the loop stands.
    private mutating func reconcile(_ reason: String, at now: ClockReading) -> [Action] {
        guard loopID != nil else { return reconcileWithoutID(reason) }
        state = .reconciling(Reconciliation(reason: reason, interval: schedule.firstPollInterval, since: now.monotonic))
        return [.retrieve(first: true)]
    }

    private mutating func retrieved(_ retrieved: LoopState, _ reconciliation: Reconciliation, at now: ClockReading) -> [Action] {
        var reconciliation = reconciliation
        reconciliation.failures = 0
        loop = retrieved
        // One note per change of status, not per poll: a loop polled for hours leaves a handful of rows.
        let changed = reconciliation.notedStatus == nil || retrieved.serverStatus != reconciliation.notedStatus
        if changed { reconciliation.notedStatus = retrieved.serverStatus }
        let record = Action.recordRetrieved(retrieved, reason: reconciliation.reason, statusChanged: changed)
        switch retrieved.phase {
        case .ended:
            state = .finished(.ended)
            return [record, .finish]
        case .needsOutputs(let calls):
            return [record] + openRound(calls)
        case .working:
            return [record] + resumeOrPoll(reconciliation, at: now)
        }
    }

    /// Re-attaches to the loop's live stream, or polls.
    ///
    /// Resumes back off (growing with each resume since the loop last moved on) and are bounded: after
    /// `maxStartRetries` + 1 of them, or `maxFruitlessResumes` in a row that brought no event, or once the server
    /// said it cannot resume, the loop is polled (which itself ends past `expires_at`).
    private mutating func resumeOrPoll(_ reconciliation: Reconciliation, at now: ClockReading) -> [Action] {
        guard fruitlessResumes < schedule.maxFruitlessResumes, !resumeUnsupported else { return poll(reconciliation, at: now) }
        guard resumes <= schedule.maxStartRetries else {
            var actions: [Action] = []
            if resumes == schedule.maxStartRetries + 1 {
                actions = [
                    .log(.warning, "resumed streams keep breaking; polling the run instead", ["resumes": "\(resumes)"]),
                    .note("toolworker.resume_given_up", ["resumes": .int(Int64(resumes))]),
                ]
                resumes += 1
            }
            return actions + poll(reconciliation, at: now)
        }
        let delay = resumes > 0 ? schedule.backoff(resumes - 1) : nil
        resumes += 1
        guard let delay else {
            state = .resuming(reconciliation, waited: true)
            return [.resume]
        }
        state = .resuming(reconciliation, waited: false)
        return [.sleep(delay)]
    }

    /// Waits before the next retrieve; a loop that outlives its `expires_at` by far, or that has none and has been
    /// polled that long, is not going anywhere: it is given up rather than polled forever.
    private mutating func poll(_ reconciliation: Reconciliation, at now: ClockReading) -> [Action] {
        let pastExpiry = loop?.expiresAt.map { Double($0) + schedule.pollPastExpiry.seconds < now.unixSeconds }
            ?? (now.monotonic - reconciliation.since > schedule.pollPastExpiry)
        if pastExpiry {
            let status = loop?.serverStatus ?? "?"
            return fail(
                loop?.expiresAt == nil
                    ? "the run is still \(status) after \(Int(schedule.pollPastExpiry.seconds)) s of polling and has no expires_at; stopped following it"
                    : "the run is still \(status) long after its expires_at; stopped following it",
                code: "lost_run")
        }
        return waitToRetrieve(reconciliation)
    }

    private mutating func retrieveFailed(_ error: LoopError, _ reconciliation: Reconciliation, at now: ClockReading) -> [Action] {
        var reconciliation = reconciliation
        reconciliation.failures += 1
        let warning = Action.log(.warning, "retrieving the run failed", ["error": "\(error)", "attempt": "\(reconciliation.failures)"])
        if error.isProtocolViolation { return [warning] + protocolViolation(error) }
        if error.code == "not_stored", resends <= schedule.maxStartRetries {
            // A server that keeps no state: the response whose stream broke is gone, with no side effect (its calls
            // never ran). The same request is sent again.
            resends += 1
            state = .resending(.lostResponse(reconciliation, error))
            return [
                warning,
                .note("toolworker.request_resent", ["reason": .string(reconciliation.reason), "error": .string(error.message)]),
                .log(.notice, "a server that keeps no state lost the response; sending the request again", [:]),
                .resend,
            ]
        }
        return [warning] + retrieveFailedPastResend(error, reconciliation, at: now)
    }

    private mutating func retrieveFailedPastResend(_ error: LoopError, _ reconciliation: Reconciliation, at now: ClockReading) -> [Action] {
        let reason = reconciliation.reason
        if error.isUnsupported {
            // Asking again cannot help (LiteLLM answers every retrieve "not supported"): say so once and end with the
            // first cause.
            return [.log(.warning, "the server cannot retrieve this kind of run; ToolWorker cannot follow it after a broken stream", ["answer": "\(error)"])]
                + fail("\(reason); the server cannot retrieve the run to go on (\(error))", code: "lost_run")
        }
        if let status = error.status, [401, 403, 404].contains(status) {
            return fail("\(reason); the server no longer answers for this run: \(error)", code: "lost_run")
        }
        if reconciliation.failures >= schedule.maxRetrieveFailures {
            return fail("\(reason); gave up following the run: \(error)", code: "lost_run")
        }
        return waitToRetrieve(reconciliation)
    }

    /// Waits the reconciliation's interval before the next retrieve; the one after waits twice as long (at most
    /// `maxPollInterval`).
    private mutating func waitToRetrieve(_ reconciliation: Reconciliation) -> [Action] {
        var next = reconciliation
        next.interval = schedule.growing(reconciliation.interval)
        state = .polling(next)
        return [.sleep(reconciliation.interval)]
    }

    // MARK: Endings

    private mutating func fail(_ message: String, code: String, status: OutcomeStatus = .error) -> [Action] {
        state = .finished(.failed(code: code))
        return [.fail(code: code, message: message, status: status)]
    }

    /// An input the state cannot take: the loop ends with `internal_error`, naming the transitions that led here.
    private mutating func illegal(_ input: Input) -> [Action] {
        let message = "internal error: \(Self.name(of: input)) cannot happen in state \(Self.name(of: state)); transitions: "
            + (trail.isEmpty ? "none" : trail.joined(separator: "; "))
        if case .finished = state { return [.log(.error, message, [:])] }
        return [.log(.error, message, [:])] + fail(message, code: "internal_error")
    }

    /// A state's name without its payload (for the trail).
    static func name(of state: State) -> String {
        switch state {
        case .idle: "idle"
        case .preparing: "preparing"
        case .starting(let attempt): "starting(\(attempt))"
        case .checkingStart: "checkingStart"
        case .findingResumed: "findingResumed"
        case .backingOffStart(let attempt): "backingOffStart(\(attempt))"
        case .failingOver: "failingOver"
        case .streaming: "streaming"
        case .openingRound: "openingRound"
        case .awaitingApprovals: "awaitingApprovals"
        case .awaitingBudget: "awaitingBudget"
        case .awaitingDailyBudget: "awaitingDailyBudget"
        case .answering: "answering"
        case .submitting: "submitting"
        case .reconciling: "reconciling"
        case .polling: "polling"
        case .resuming: "resuming"
        case .resending: "resending"
        case .finished(let ending): "finished(\(ending))"
        }
    }

    /// An input's name without its payload (named case by case: describing the payload, a whole retrieved state,
    /// only to cut it off would cost a reflection walk per transition).
    static func name(of input: Input) -> String {
        switch input {
        case .begin: "begin"
        case .prepared: "prepared"
        case .prepareFailed: "prepareFailed"
        case .streamOpened: "streamOpened"
        case .startFailed: "startFailed"
        case .found: "found"
        case .findFailed: "findFailed"
        case .streamEvent: "streamEvent"
        case .streamEnded: "streamEnded"
        case .retrieved: "retrieved"
        case .retrieveFailed: "retrieveFailed"
        case .resumeDeclined: "resumeDeclined"
        case .resumeFailed: "resumeFailed"
        case .resendDeclined: "resendDeclined"
        case .resendFailed: "resendFailed"
        case .roundRefused: "roundRefused"
        case .budgetReached: "budgetReached"
        case .budgetApprovalPending: "budgetApprovalPending"
        case .budgetApproved: "budgetApproved"
        case .budgetBusy: "budgetBusy"
        case .failedOver: "failedOver"
        case .noFallback: "noFallback"
        case .approvalsPending: "approvalsPending"
        case .approvalsDecided: "approvalsDecided"
        case .roundAnswered: "roundAnswered"
        case .submitted: "submitted"
        case .submitFailed: "submitFailed"
        case .leaseLost: "leaseLost"
        case .shutdown: "shutdown"
        case .timerFired: "timerFired"
        }
    }
}
