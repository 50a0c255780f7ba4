import Logging
import Testing
import RunLoopCore

/// The run driver's decisions, one transition per line: no server, no child process, no file, no clock. Each line
/// feeds an input at a time (seconds from the start) and names the actions expected (log lines left out; notes as
/// `note:NAME`, sleeps as `sleep:MS`, failures as `fail:CODE`).
@Suite("The loop machine, transition by transition")
struct LoopMachineTests {
    /// One line of a table.
    struct Line: Sendable {
        var input: LoopMachine.Input
        var at: Double
        var expected: [String]
    }

    /// A table: its lines, and the state it must end in.
    struct Table: Sendable, CustomTestStringConvertible {
        var name: String
        var schedule = LoopMachineTests.schedule
        var submitRefusalIsFinal = false
        /// Whether a `fallback:` provider is left for the loop.
        var failover = false
        var lines: [Line]
        var end: String
        var testDescription: String { name }
    }

    static let schedule: RetrySchedule = {
        var schedule = RetrySchedule(maxStartRetries: 2) { attempt in .milliseconds(100 * (attempt + 1)) }
        schedule.firstPollInterval = .milliseconds(250)
        schedule.maxPollInterval = .seconds(1)
        schedule.maxRetrieveFailures = 3
        schedule.pollPastExpiry = .seconds(60)
        schedule.maxFruitlessResumes = 2
        schedule.approvalPollInterval = .milliseconds(500)
        schedule.expiryMargin = .seconds(5)
        return schedule
    }()

    static let epoch = 1_000_000.0

    static func reading(_ at: Double) -> ClockReading {
        ClockReading(monotonic: .milliseconds(Int64(at * 1000)), unixSeconds: epoch + at)
    }

    static func loop(_ phase: LoopPhase, id: String? = "run_1", status: String = "in_progress", expiresAt: Double? = nil) -> LoopState {
        LoopState(
            id: id, threadID: "thread_1", phase: phase, expiresAt: expiresAt.map { Int64(epoch + $0) },
            record: RunStateRecord(runID: id, threadID: "thread_1", status: status, isTerminal: false, snapshot: .object([:])))
    }

    static let call = ToolCall(id: "call_1", name: "echo", arguments: "{}")
    static let working = loop(.working)
    static let needs = loop(.needsOutputs([call]), status: "requires_action")
    static let done = loop(.ended(.completed), status: "completed")

    static func http(_ status: Int, code: String? = nil) -> LoopError { LoopError(.http(status: status), code: code, message: "HTTP \(status)") }
    static let dropped = LoopError(.transport(mayHaveBeenSent: false), message: "connection refused")

    /// The actions, log lines left out, as the tables name them.
    static func summary(_ actions: [LoopMachine.Action]) -> [String] {
        actions.compactMap { action in
            switch action {
            case .log: nil
            case .note(let name, _): "note:\(name)"
            case .sleep(let duration): "sleep:\(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)"
            case .fail(let code, _, _): "fail:\(code)"
            case .retrieve: "retrieve"
            case .adopt: "adopt"
            case .openRound: "openRound"
            case .expireApprovals: "expireApprovals"
            case .recordRetrieved: "recordRetrieved"
            case .suspend: "suspend"
            case .checkBudgetApproval: "checkBudgetApproval"
            case .failover: "failover"
            default: "\(action)"
            }
        }
    }

    static func line(_ input: LoopMachine.Input, at: Double = 0, _ expected: String...) -> Line {
        Line(input: input, at: at, expected: expected)
    }

    /// A loop that started and is streaming (`begin`, `start`, stream opened).
    static let streaming: [Line] = [
        line(.begin(.start(needsContainer: false)), "start"),
        line(.streamOpened, "consumeStream"),
    ]

    /// …that then asked for outputs of one call, to be answered.
    static let roundOpen: [Line] = streaming + [
        line(.streamEvent(needs)),
        line(.streamEnded(.complete, sawEvents: true), "openRound"),
    ]

    /// …whose stream then broke while it worked, with a reconciliation begun.
    static let broken: [Line] = streaming + [
        line(.streamEvent(working)),
        line(.streamEnded(.broken("reset"), sawEvents: true), "retrieve"),
    ]

    static let tables: [Table] = [
        Table(name: "a loop that completes over its first stream", lines: [
            line(.begin(.start(needsContainer: true)), "prepare"),
            line(.prepared, "start"),
            line(.streamOpened, "consumeStream"),
            line(.streamEvent(working)),
            line(.streamEvent(done)),
            line(.streamEnded(.complete, sawEvents: true), "finish"),
        ], end: "finished(ended)"),
        Table(name: "one round: answered, submitted, the next stream completes", lines: roundOpen + [
            line(.approvalsDecided, "answerRound"),
            line(.roundAnswered, "submit"),
            line(.submitted, "consumeStream"),
            line(.streamEvent(done)),
            line(.streamEnded(.complete, sawEvents: true), "finish"),
        ], end: "finished(ended)"),
        Table(name: "the protocol is not set up here", lines: [
            line(.begin(.unsupportedProtocol("smoke-signals")), "fail:unsupported_protocol"),
        ], end: "finished(failed(code: \"unsupported_protocol\"))"),
        Table(name: "the container cannot be created", lines: [
            line(.begin(.start(needsContainer: true)), "prepare"),
            line(.prepareFailed(http(401)), "fail:http_401"),
        ], end: "finished(failed(code: \"http_401\"))"),
        Table(name: "a start refused outright is not repeated", lines: [
            line(.begin(.start(needsContainer: false)), "start"),
            line(.startFailed(http(400, code: "invalid_request_error")), "fail:invalid_request_error"),
        ], end: "finished(failed(code: \"invalid_request_error\"))"),
        Table(name: "a start that never reached the server is repeated after each backoff, up to max_retries", lines: [
            line(.begin(.start(needsContainer: false)), "start"),
            line(.startFailed(dropped), "sleep:100"),
            line(.timerFired, "start"),
            line(.startFailed(dropped), "sleep:200"),
            line(.timerFired, "start"),
            line(.startFailed(dropped), "fail:start_failed"),
        ], end: "finished(failed(code: \"start_failed\"))"),
        Table(name: "an ambiguous start: the server holds the loop, which is adopted and reconciled", lines: [
            line(.begin(.start(needsContainer: false)), "start"),
            line(.startFailed(http(502)), "find"),
            line(.found(working), "adopt", "retrieve"),
            line(.retrieved(done), "recordRetrieved", "finish"),
        ], end: "finished(ended)"),
        Table(name: "an ambiguous start the server has no loop for is noted and started again", lines: [
            line(.begin(.start(needsContainer: false)), "start"),
            line(.startFailed(http(502)), "find"),
            line(.found(nil), "note:toolworker.start_abandoned", "sleep:100"),
            line(.timerFired, "start"),
            line(.streamOpened, "consumeStream"),
        ], end: "streaming"),
        Table(name: "an ambiguous start that cannot be checked is never repeated blind", lines: [
            line(.begin(.start(needsContainer: false)), "start"),
            line(.startFailed(LoopError(.transport(mayHaveBeenSent: true), message: "reset after sending")), "find"),
            line(.findFailed(http(503)), "fail:start_unknown"),
        ], end: "finished(failed(code: \"start_unknown\"))"),
        Table(name: "after a restart with the loop's id: reconciled, then its round answered", lines: [
            line(.begin(.resume(loopID: "run_1")), "retrieve"),
            line(.retrieved(needs), "recordRetrieved", "openRound"),
            line(.approvalsDecided, "answerRound"),
        ], end: "answering"),
        Table(name: "after a restart mid-start: the loop the server holds is adopted", lines: [
            line(.begin(.resume(loopID: nil)), "find"),
            line(.found(working), "adopt", "retrieve"),
        ], end: "reconciling"),
        Table(name: "after a restart mid-start with no loop at the server: interrupted_start", lines: [
            line(.begin(.resume(loopID: nil)), "find"),
            line(.found(nil), "fail:interrupted_start"),
        ], end: "finished(failed(code: \"interrupted_start\"))"),
        Table(name: "a stream that ends before the loop has an id: lost_run", lines: streaming + [
            line(.streamEnded(.broken("reset"), sawEvents: false), "fail:lost_run"),
        ], end: "finished(failed(code: \"lost_run\"))"),
        Table(name: "a broken stream: resumes back off and are bounded (max_retries + 1), then the loop is polled", lines: broken + [
            line(.retrieved(working), "recordRetrieved", "resume"),
            line(.streamOpened, "consumeStream"),
            line(.streamEnded(.broken("reset"), sawEvents: true), "retrieve"),
            line(.retrieved(working), "recordRetrieved", "sleep:100"),
            line(.timerFired, "resume"),
            line(.streamOpened, "consumeStream"),
            line(.streamEnded(.broken("reset"), sawEvents: true), "retrieve"),
            line(.retrieved(working), "recordRetrieved", "sleep:200"),
            line(.timerFired, "resume"),
            line(.streamOpened, "consumeStream"),
            line(.streamEnded(.broken("reset"), sawEvents: true), "retrieve"),
            line(.retrieved(working), "recordRetrieved", "note:toolworker.resume_given_up", "sleep:250"),
            line(.timerFired, "retrieve"),
            line(.retrieved(working), "recordRetrieved", "sleep:500"),
            line(.timerFired, "retrieve"),
            line(.retrieved(working), "recordRetrieved", "sleep:1000"),
            line(.timerFired, "retrieve"),
            line(.retrieved(working), "recordRetrieved", "sleep:1000"),
            line(.timerFired, "retrieve"),
            line(.retrieved(done), "recordRetrieved", "finish"),
        ], end: "finished(ended)"),
        Table(name: "resumed streams that bring no event: polled after max_fruitless_resumes", lines: broken + [
            line(.retrieved(working), "recordRetrieved", "resume"),
            line(.streamOpened, "consumeStream"),
            line(.streamEnded(.complete, sawEvents: false), "retrieve"),
            line(.retrieved(working), "recordRetrieved", "sleep:100"),
            line(.timerFired, "resume"),
            line(.streamOpened, "consumeStream"),
            line(.streamEnded(.complete, sawEvents: false), "retrieve"),
            line(.retrieved(working), "recordRetrieved", "sleep:250"),
        ], end: "polling"),
        Table(name: "a server that cannot resume is polled, and never asked to resume again", lines: broken + [
            line(.retrieved(working), "recordRetrieved", "resume"),
            line(.resumeFailed(http(501)), "sleep:250"),
            line(.timerFired, "retrieve"),
            line(.retrieved(working), "recordRetrieved", "sleep:500"),
        ], end: "polling"),
        Table(name: "a loop still working long past its expires_at is given up", lines: streaming + [
            line(.streamEvent(loop(.working, expiresAt: 10))),
            line(.streamEnded(.broken("reset"), sawEvents: true), at: 1, "retrieve"),
            line(.retrieved(loop(.working, expiresAt: 10)), at: 1, "recordRetrieved", "resume"),
            line(.resumeDeclined, at: 1, "sleep:250"),
            line(.timerFired, at: 69, "retrieve"),
            line(.retrieved(loop(.working, expiresAt: 10)), at: 69, "recordRetrieved", "sleep:100"),
            line(.timerFired, at: 71, "resume"),
            line(.resumeDeclined, at: 71, "fail:lost_run"),
        ], end: "finished(failed(code: \"lost_run\"))"),
        Table(name: "a loop without expires_at polled for poll_past_expiry is given up", lines: broken + [
            line(.retrieved(working), at: 0, "recordRetrieved", "resume"),
            line(.resumeDeclined, at: 30, "sleep:250"),
            line(.timerFired, at: 30, "retrieve"),
            line(.retrieved(working), at: 61, "recordRetrieved", "sleep:100"),
            line(.timerFired, at: 61, "resume"),
            line(.resumeDeclined, at: 61, "fail:lost_run"),
        ], end: "finished(failed(code: \"lost_run\"))"),
        Table(name: "failing retrieves back off (doubling) and end after max_retrieve_failures", lines: broken + [
            line(.retrieveFailed(dropped), "sleep:250"),
            line(.timerFired, "retrieve"),
            line(.retrieveFailed(dropped), "sleep:500"),
            line(.timerFired, "retrieve"),
            line(.retrieveFailed(dropped), "fail:lost_run"),
        ], end: "finished(failed(code: \"lost_run\"))"),
        Table(name: "a retrieve the server no longer answers (404) ends the loop", lines: broken + [
            line(.retrieveFailed(http(404)), "fail:lost_run"),
        ], end: "finished(failed(code: \"lost_run\"))"),
        Table(name: "a server that cannot retrieve ends the loop with the first cause", lines: broken + [
            line(.retrieveFailed(http(501)), "fail:lost_run"),
        ], end: "finished(failed(code: \"lost_run\"))"),
        Table(name: "a server that keeps no state lost the response: the request is sent again", lines: broken + [
            line(.retrieveFailed(http(404, code: "not_stored")), "note:toolworker.request_resent", "resend"),
            line(.streamOpened, "consumeStream"),
            line(.streamEvent(done)),
            line(.streamEnded(.complete, sawEvents: true), "finish"),
        ], end: "finished(ended)"),
        Table(name: "…and when it cannot be sent again, the 404 ends the loop", lines: broken + [
            line(.retrieveFailed(http(404, code: "not_stored")), "note:toolworker.request_resent", "resend"),
            line(.resendDeclined, "fail:lost_run"),
        ], end: "finished(failed(code: \"lost_run\"))"),
        Table(name: "…and when sending it again fails: lost_run", lines: broken + [
            line(.retrieveFailed(http(404, code: "not_stored")), "note:toolworker.request_resent", "resend"),
            line(.resendFailed(dropped), "fail:lost_run"),
        ], end: "finished(failed(code: \"lost_run\"))"),
        Table(name: "a broken answer that may be whole the second time is asked for once more, not twice", lines: streaming + [
            line(.streamEnded(.violation(LoopError(.protocolViolation(retryable: true), code: "truncated_arguments", message: "cut")), sawEvents: true),
                 "note:toolworker.retry_broken_answer", "resend"),
            line(.streamOpened, "consumeStream"),
            line(.streamEnded(.violation(LoopError(.protocolViolation(retryable: true), code: "truncated_arguments", message: "cut")), sawEvents: true),
                 "fail:truncated_arguments"),
        ], end: "finished(failed(code: \"truncated_arguments\"))"),
        Table(name: "a broken answer that cannot be sent again ends the loop failed", lines: streaming + [
            line(.streamEnded(.violation(LoopError(.protocolViolation(retryable: true), code: "truncated_arguments", message: "cut")), sawEvents: true),
                 "note:toolworker.retry_broken_answer", "resend"),
            line(.resendDeclined, "fail:truncated_arguments"),
        ], end: "finished(failed(code: \"truncated_arguments\"))"),
        Table(name: "a violation past repair (a reused run id) ends the loop", lines: streaming + [
            line(.streamEnded(.violation(LoopError(.protocolViolation(retryable: false), code: "duplicate_run_id", message: "dup")), sawEvents: true),
                 "fail:duplicate_run_id"),
        ], end: "finished(failed(code: \"duplicate_run_id\"))"),
        Table(name: "a budget reached before a round is answered ends the loop budget_exceeded", lines: roundOpen + [
            line(.budgetReached("token budget reached"), "fail:budget_exceeded"),
        ], end: "finished(failed(code: \"budget_exceeded\"))"),
        Table(name: "a budget that asks: the round waits for the decision, then is opened again once extended", lines: roundOpen + [
            line(.budgetApprovalPending("budget-1-1"), "sleep:500"),
            line(.timerFired, "checkBudgetApproval"),
            line(.budgetApprovalPending("budget-1-1"), "sleep:500"),
            line(.timerFired, "checkBudgetApproval"),
            line(.budgetApproved, "openRound"),
            line(.approvalsDecided, "answerRound"),
        ], end: "answering"),
        Table(name: "a budget that asks before the start: approved, the start is sent; a denial stops", lines: [
            line(.begin(.start(needsContainer: false)), "start"),
            line(.budgetApprovalPending("budget-1-1"), "sleep:500"),
            line(.timerFired, "checkBudgetApproval"),
            line(.budgetApproved, "start"),
            line(.budgetApprovalPending("budget-1-2"), "sleep:500"),
            line(.timerFired, "checkBudgetApproval"),
            line(.budgetReached("budget extension denied by alice"), "fail:budget_exceeded"),
        ], end: "finished(failed(code: \"budget_exceeded\"))"),
        Table(name: "the provider's day not yet estimable: the start and a round wait, then go", lines: [
            line(.begin(.start(needsContainer: false)), "start"),
            line(.budgetBusy("the day's first request is in flight"), "sleep:500"),
            line(.timerFired, "start"),
            line(.streamOpened, "consumeStream"),
            line(.streamEvent(needs)),
            line(.streamEnded(.complete, sawEvents: true), "openRound"),
            line(.budgetBusy("still in flight"), "sleep:500"),
            line(.timerFired, "openRound"),
            line(.approvalsDecided, "answerRound"),
        ], end: "answering"),
        Table(name: "a provider that cannot be reached: the loop moves down the fallback chain and starts there", failover: true, lines: [
            line(.begin(.start(needsContainer: false)), "start"),
            line(.startFailed(dropped), "sleep:100"),
            line(.timerFired, "start"),
            line(.startFailed(dropped), "sleep:200"),
            line(.timerFired, "start"),
            line(.startFailed(dropped), "failover"),
            line(.failedOver(needsContainer: true), "prepare"),
            line(.prepareFailed(http(401, code: "invalid_api_key")), "failover"),
            line(.failedOver(needsContainer: true), "prepare"),
            line(.prepared, "start"),
            line(.streamOpened, "consumeStream"),
        ], end: "streaming"),
        Table(name: "the fallback chain runs out: the provider's failure ends the loop", failover: true, lines: [
            line(.begin(.start(needsContainer: false)), "start"),
            line(.startFailed(http(429, code: "insufficient_quota")), "failover"),
            line(.noFallback, "fail:insufficient_quota"),
        ], end: "finished(failed(code: \"insufficient_quota\"))"),
        Table(name: "a request the server finds wrong is not moved to a fallback", failover: true, lines: [
            line(.begin(.start(needsContainer: false)), "start"),
            line(.startFailed(http(400, code: "invalid_request_error")), "fail:invalid_request_error"),
        ], end: "finished(failed(code: \"invalid_request_error\"))"),
        Table(name: "a budget reached before the start sends no request", lines: [
            line(.begin(.start(needsContainer: false)), "start"),
            line(.budgetReached("time budget reached"), "fail:budget_exceeded"),
        ], end: "finished(failed(code: \"budget_exceeded\"))"),
        Table(name: "a round refused (max_rounds) ends the loop failed", lines: roundOpen + [
            line(.roundRefused(code: "max_rounds", message: "round 101"), "fail:max_rounds"),
        ], end: "finished(failed(code: \"max_rounds\"))"),
        Table(name: "approvals: polled until every call is decided", lines: roundOpen + [
            line(.approvalsPending(["call_1"]), "sleep:500"),
            line(.timerFired, "checkApprovals"),
            line(.approvalsPending(["call_1"]), "sleep:500"),
            line(.timerFired, "checkApprovals"),
            line(.approvalsDecided, "answerRound"),
        ], end: "answering"),
        Table(name: "approvals still pending at expires_at minus the margin expire, and the round goes on", lines: streaming + [
            line(.streamEvent(loop(.needsOutputs([call]), expiresAt: 100))),
            line(.streamEnded(.complete, sawEvents: true), "openRound"),
            line(.approvalsPending(["call_1"]), at: 50, "sleep:500"),
            line(.timerFired, at: 94.9, "checkApprovals"),
            line(.approvalsPending(["call_1"]), at: 94.9, "sleep:500"),
            line(.timerFired, at: 95, "checkApprovals"),
            line(.approvalsPending(["call_1"]), at: 95, "expireApprovals"),
            line(.approvalsDecided, at: 95, "answerRound"),
        ], end: "answering"),
        Table(name: "a shutdown while approvals are awaited suspends the loop", lines: roundOpen + [
            line(.approvalsPending(["call_1"]), "sleep:500"),
            line(.timerFired, "checkApprovals"),
            line(.shutdown, "suspend"),
        ], end: "finished(suspended)"),
        Table(name: "a shutdown before a stream is read suspends the loop", lines: streaming + [
            line(.shutdown, "suspend"),
        ], end: "finished(suspended)"),
        Table(name: "the lease lost at the submit: the loop is left to the other daemon", lines: roundOpen + [
            line(.approvalsDecided, "answerRound"),
            line(.leaseLost, "abandon"),
        ], end: "finished(leaseLost)"),
        Table(name: "a submit that fails in passing is reconciled; the round is asked for again and answered", lines: roundOpen + [
            line(.approvalsDecided, "answerRound"),
            line(.roundAnswered, "submit"),
            line(.submitFailed(dropped), "note:toolworker.submit_failed", "retrieve"),
            line(.retrieved(needs), "recordRetrieved", "openRound"),
            line(.approvalsDecided, "answerRound"),
            line(.roundAnswered, "submit"),
            line(.submitted, "consumeStream"),
        ], end: "streaming"),
        Table(name: "a submit refused again and again ends the loop (submit_refused)", lines: roundOpen + [
            line(.approvalsDecided, "answerRound"),
            line(.roundAnswered, "submit"),
            line(.submitFailed(http(400)), "note:toolworker.submit_failed", "retrieve"),
            line(.retrieved(needs), "recordRetrieved", "openRound"),
            line(.approvalsDecided, "answerRound"),
            line(.roundAnswered, "submit"),
            line(.submitFailed(http(400)), "note:toolworker.submit_failed", "retrieve"),
            line(.retrieved(needs), "recordRetrieved", "openRound"),
            line(.approvalsDecided, "answerRound"),
            line(.roundAnswered, "submit"),
            line(.submitFailed(http(400)), "note:toolworker.submit_failed", "fail:submit_refused"),
        ], end: "finished(failed(code: \"submit_refused\"))"),
        Table(name: "a protocol whose refused submit is final ends at the first one", submitRefusalIsFinal: true, lines: roundOpen + [
            line(.approvalsDecided, "answerRound"),
            line(.roundAnswered, "submit"),
            line(.submitFailed(http(400)), "note:toolworker.submit_failed", "fail:submit_refused"),
        ], end: "finished(failed(code: \"submit_refused\"))"),
        Table(name: "a stream that ends without a word while the last state known asks for outputs is reconciled first, never answered twice", lines: roundOpen + [
            line(.approvalsDecided, "answerRound"),
            line(.roundAnswered, "submit"),
            line(.submitted, "consumeStream"),
            line(.streamEnded(.complete, sawEvents: false), "retrieve"),
            line(.retrieved(needs), "recordRetrieved", "openRound"),
        ], end: "openingRound"),
        Table(name: "an input the state cannot take ends the loop with internal_error", lines: streaming + [
            line(.submitted, "fail:internal_error"),
            line(.timerFired),
        ], end: "finished(failed(code: \"internal_error\"))"),
    ]

    @Test("each table's transitions", arguments: tables)
    func table(_ table: Table) {
        var machine = LoopMachine(schedule: table.schedule, submitRefusalIsFinal: table.submitRefusalIsFinal)
        machine.failoverAvailable = table.failover
        for (number, line) in table.lines.enumerated() {
            let actions = machine.handle(line.input, at: Self.reading(line.at))
            #expect(Self.summary(actions) == line.expected, "line \(number + 1): \(line.input)")
        }
        #expect(LoopMachineTests.name(machine.state) == table.end)
    }

    static func name(_ state: LoopMachine.State) -> String {
        if case .finished(let ending) = state { return "finished(\(ending))" }
        return String("\(state)".prefix { $0 != "(" })
    }

    @Test("every end state is reached by some table")
    func everyEnding() {
        let ends = Set(Self.tables.map(\.end))
        for ending in ["finished(ended)", "finished(suspended)", "finished(leaseLost)"] { #expect(ends.contains(ending)) }
        #expect(ends.contains { $0.hasPrefix("finished(failed") })
    }

    @Test("an illegal input names the transitions that led to it")
    func illegalTrail() {
        var machine = LoopMachine(schedule: Self.schedule)
        _ = machine.handle(.begin(.start(needsContainer: false)), at: Self.reading(0))
        let actions = machine.handle(.roundAnswered, at: Self.reading(0))
        let message = actions.compactMap { action -> String? in
            if case .fail(_, let message, _) = action { return message }
            return nil
        }.first ?? ""
        #expect(message.contains("roundAnswered cannot happen in state starting(0)"), "\(message)")
        #expect(message.contains("idle --begin--> starting(0)"), "\(message)")
    }

    @Test("a round that moved on starts resumes and the one retry of a broken answer afresh")
    func countersReset() {
        var machine = LoopMachine(schedule: Self.schedule)
        for line in Self.broken + [
            Self.line(.retrieved(Self.working), "recordRetrieved", "resume"),
            Self.line(.streamOpened, "consumeStream"),
            Self.line(.streamEvent(Self.needs)),
            Self.line(.streamEnded(.complete, sawEvents: true), "openRound"),
            Self.line(.approvalsDecided, "answerRound"),
            Self.line(.roundAnswered, "submit"),
        ] {
            _ = machine.handle(line.input, at: Self.reading(line.at))
        }
        #expect(machine.resumes == 1)
        _ = machine.handle(.submitted, at: Self.reading(0))
        #expect(machine.resumes == 0 && machine.resends == 0 && !machine.retriedAfterViolation && machine.submitFailures == 0)
    }
}
