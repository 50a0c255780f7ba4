import Logging
import WireFormat
import WorkModel

/// A tool loop's control flow as a state machine, with no I/O: ``RunDriver`` performs its ``Action``s and hands
/// back what came of them as ``Input``s. Every retry, poll, resume and reconcile decision is made here, against the
/// ``RetrySchedule`` and the time each input carries, so tests drive it line by line without a server, a process,
/// a file or a clock.
///
/// Each `handle` returns the actions to perform in order: at most one of them waits for an answer (the last), the
/// others are notes and log lines; an ending action (``Action/finish``, ``Action/fail(code:message:status:)``,
/// ``Action/suspend(_:)``, ``Action/abandon``) is always last.
public struct LoopMachine: Sendable {
    /// Where the loop stands.
    public enum State: Sendable, Equatable {
        case idle
        /// Creating the loop's container (an Assistants thread).
        case preparing
        /// Sending the start request; `attempt` counts from 0.
        case starting(attempt: Int)
        /// A start's answer left open whether the server created the loop: asking it.
        case checkingStart(attempt: Int, failure: LoopError)
        /// After a restart with no loop id: asking the server for the loop created before it.
        case findingResumed
        /// Waiting before the next start.
        case backingOffStart(attempt: Int)
        /// Moving a loop its provider could not prepare or start (`failure`) to the next one of the `fallback:` chain.
        case failingOver(LoopError, preparing: Bool)
        /// Reading a stream; `sawRequiresAction` once it asked for outputs.
        case streaming(sawRequiresAction: Bool)
        /// Checking the round and asking for approvals.
        case openingRound([ToolCall])
        /// Waiting for people's decisions on the round's calls, until `deadline` (Unix seconds).
        case awaitingApprovals(deadline: Double?)
        /// Waiting for a person to extend the budget (request `id`) before the request `gate` holds back.
        case awaitingBudget(id: String, gate: BudgetGate)
        /// Waiting for the provider's day to be estimable (another request's usage) before the request `gate` holds back.
        case awaitingDailyBudget(gate: BudgetGate)
        /// Running the round's handlers.
        case answering
        /// Sending the round's outputs.
        case submitting
        /// Asking the server where the loop stands.
        case reconciling(Reconciliation)
        /// Waiting before the next retrieve of a loop that works without a stream.
        case polling(Reconciliation)
        /// Waiting before (or while) re-attaching to the live stream.
        case resuming(Reconciliation, waited: Bool)
        /// Sending the last request once more: after a broken answer, or to a server that lost it.
        case resending(Resend)
        /// Over; the ending was the last action.
        case finished(Ending)
    }

    /// The request a budget held back until a person decides: a start (with its attempt), or a round.
    public enum BudgetGate: Sendable, Equatable {
        case start(attempt: Int)
        case round([ToolCall])
    }

    /// One reconciliation: why it began and how its polling goes.
    public struct Reconciliation: Sendable, Equatable {
        public var reason: String
        /// Retrieves that failed in a row.
        public var failures = 0
        public var interval: Duration
        /// When polling began (for a loop without `expires_at`).
        public var since: Duration
        /// The server status last noted in the journal (one note per change, not per poll).
        public var notedStatus: String?
    }

    /// Why the last request is sent again.
    public enum Resend: Sendable, Equatable {
        /// Its answer broke the protocol in a way a second try may not.
        case brokenAnswer(LoopError)
        /// A server that keeps no state lost the response; `reconciliation` goes on if it cannot resend.
        case lostResponse(Reconciliation, LoopError)
    }

    /// How the loop ended.
    public enum Ending: Sendable, Equatable {
        /// The server ended it (its status is in ``LoopMachine/loop``).
        case ended
        /// ToolWorker ended it with its own error.
        case failed(code: String)
        /// Shutdown: the loop stays open in the store, resumed at the next start.
        case suspended
        /// Another daemon holds the run's lease now.
        case leaseLost
    }

    /// How a drive begins.
    public enum Beginning: Sendable, Equatable {
        /// A new loop; `needsContainer` when the request names none and the protocol may create one.
        case start(needsContainer: Bool)
        /// After a restart, with the loop's id if it was known.
        case resume(loopID: String?)
        /// The process has no backend for the loop's protocol.
        case unsupportedProtocol(String)
        /// The loop names a provider the configuration does not have.
        case unknownProvider(String)
    }

    /// How a stream ended.
    public enum StreamEnd: Sendable, Equatable {
        /// Its proper end.
        case complete
        /// It broke (a transport error, a stall, an in-band error).
        case broken(String)
        /// The server broke the protocol.
        case violation(LoopError)
    }

    /// What happened, as the driver tells the machine.
    public indirect enum Input: Sendable, Equatable {
        case begin(Beginning)
        case prepared
        case prepareFailed(LoopError)
        /// A request (start, submit, resume, resend) answered with a stream.
        case streamOpened
        case startFailed(LoopError)
        /// What the server holds with our run key, if anything.
        case found(LoopState?)
        case findFailed(LoopError)
        /// An event carried the loop's state.
        case streamEvent(LoopState)
        /// The stream is over; `sawEvents` when any event arrived on it.
        case streamEnded(StreamEnd, sawEvents: Bool)
        case retrieved(LoopState)
        case retrieveFailed(LoopError)
        /// The protocol cannot re-attach (or the server had nothing to resume).
        case resumeDeclined
        case resumeFailed(LoopError)
        /// The protocol cannot send the last request again.
        case resendDeclined
        case resendFailed(LoopError)
        /// The round must not be answered (`max_rounds`, `too_many_calls`, …).
        case roundRefused(code: String, message: String)
        /// The next request would pass the loop's budget (checked before a start and before a round is answered), or
        /// a person denied extending it.
        case budgetReached(String)
        /// It would, and the budget asks (`on_reach=ask`): request `id` waits for a person's decision.
        case budgetApprovalPending(String)
        /// A person extended the budget: the request it held back goes on (checked again).
        case budgetApproved
        /// The provider's day cannot be judged yet (the first request of the day is in flight): check again shortly.
        case budgetBusy(String)
        /// The loop moved to another provider; `needsContainer` when it must create its container there first.
        case failedOver(needsContainer: Bool)
        /// No provider of the chain is left to try.
        case noFallback
        /// Some calls still wait for a person's decision.
        case approvalsPending([String])
        /// Every call of the round may be answered (run, or refused for its decision).
        case approvalsDecided
        /// The round's outputs are ready to submit.
        case roundAnswered
        case submitted
        case submitFailed(LoopError)
        case leaseLost
        case shutdown
        case timerFired
    }

    /// What the driver must do.
    public indirect enum Action: Sendable, Equatable {
        case prepare
        case start
        /// Move the loop, which never started, to the next provider of the `fallback:` chain (it failed with this).
        case failover(LoopError)
        /// Ask the server for a loop carrying our run key.
        case find
        /// Follow `loop` from now on, durably.
        case adopt(LoopState)
        case consumeStream
        /// `first` when a reconciliation begins (counted in metrics).
        case retrieve(first: Bool)
        /// Keep a retrieved state: flush, and when `statusChanged`, note it, record outputs the server took and
        /// (for an ended loop) its final objects, then store the run row.
        case recordRetrieved(LoopState, reason: String, statusChanged: Bool)
        case resume
        case resend
        /// Check the round and ask for approvals.
        case openRound([ToolCall])
        /// Read the journal for decisions.
        case checkApprovals
        /// Read the decision on a request to extend the budget.
        case checkBudgetApproval(String)
        /// Mark what is still pending `expired`, then read the decisions.
        case expireApprovals([String])
        case answerRound
        case submit
        case sleep(Duration)
        /// An event log note (`toolworker.*`).
        case note(String, JSONValue)
        case log(Logger.Level, String, [String: String])
        /// The loop ended at the server: report its status.
        case finish
        /// End the loop with ToolWorker's own error.
        case fail(code: String, message: String, status: OutcomeStatus)
        case suspend(String)
        case abandon
    }

    public internal(set) var state: State = .idle
    /// The latest known state of the loop (from a stream or a retrieve).
    public internal(set) var loop: LoopState?
    public internal(set) var loopID: String?
    /// Resumed streams in a row that brought no event.
    public internal(set) var fruitlessResumes = 0
    /// Resumes since the loop last moved on (a round answered).
    public internal(set) var resumes = 0
    /// The server said it cannot resume streams.
    public internal(set) var resumeUnsupported = false
    /// The broken answer of this round was already asked for once more.
    public internal(set) var retriedAfterViolation = false
    /// Requests sent again to a server that keeps no state.
    public internal(set) var resends = 0
    /// Submits of the current round that failed in a row.
    public internal(set) var submitFailures = 0
    /// Whether a `fallback:` provider is left for a loop that cannot start on its own (the driver says).
    public var failoverAvailable = false
    /// The last transitions, oldest first, named in the error of an illegal one.
    public internal(set) var trail: [String] = []

    public let schedule: RetrySchedule
    /// Whether a submit refused with a definite 4xx ends the loop (``ToolLoopBackend/submitRefusalIsFinal``).
    public let submitRefusalIsFinal: Bool

    public init(schedule: RetrySchedule, submitRefusalIsFinal: Bool = false, loopID: String? = nil) {
        self.schedule = schedule
        self.submitRefusalIsFinal = submitRefusalIsFinal
        self.loopID = loopID
    }
}
