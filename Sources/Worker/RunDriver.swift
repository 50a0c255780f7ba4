import Journal
import Logging
import Tracing
import ToolRunner
import WireFormat
import WorkModel

/// Drives one tool loop (an Assistants run, a Responses response) from start to a terminal state: stream, answer
/// every round of tool calls through the handlers, submit with `stream: true`, stream again, and so on, storing
/// every event and snapshot on the way.
///
/// The decisions are ``LoopMachine``'s; the driver performs its actions (requests, journal writes, handlers,
/// sleeps on the injected ``DriverClock``) and tells it what came of them. Failures never escape as thrown errors
/// except the journal's own and cancellation: every outcome is recorded and returned. The protocol is behind
/// ``ToolLoopBackend``; nothing here knows its wire types.
public struct RunDriver: Sendable {
    /// The providers loops are sent to, the first being the default (a request that names none).
    public let providers: [ProviderRoute]
    /// `fallback:`: where a loop that cannot start on its provider is moved, in order (skipping its own).
    public var fallback: [String] = []
    /// The default provider's backends, by ``ToolLoopBackend/protocolName``.
    public var backends: [String: any ToolLoopBackend] { providers[0].backends }
    public let journal: any RunJournal
    public var dispatcher: ToolDispatcher
    public let policy: SnapshotPolicy
    public let logger: Logger
    /// Every retry, poll and resume limit and delay (the start and resume numbers come from each loop's backend).
    public var schedule: RetrySchedule
    /// The time the driver sees and sleeps on.
    public var clock: any DriverClock
    /// Tool rounds a loop may take (`max_rounds`; a request's own ``RunRequest/maxRounds`` wins): past it the loop
    /// ends with `error_code` `max_rounds` instead of answering a model that never stops calling tools.
    public var maxRounds = 100
    /// A round with more calls than this ends the loop (`too_many_calls`) instead of starting them all.
    public var maxCallsPerRound = 128
    /// A round whose calls' arguments add up to more bytes than this ends the loop (`arguments_too_large`).
    public var maxArgumentBytes = 4 * 1024 * 1024
    /// `approval_notify:`: told of each new request for approval (it never delays or decides anything).
    public var approvalNotifier: ApprovalNotifier?
    /// Seals each approval request this driver makes and refuses a request whose seal is not valid (one planted in
    /// the journal); `nil` (no key) seals nothing and checks nothing.
    public var approvalSeal: ApprovalSeal?
    /// Called once per round with its timings (benchmarks and metrics).
    public var onRound: (@Sendable (RoundTiming) -> Void)?
    /// When triggered, the driver aborts its stream, lets a running round finish and submit, and returns a
    /// `suspended` outcome; the loop stays open in the journal and is resumed at the next start.
    public var shutdown: ShutdownSignal?
    /// The leases of the runs this process drives: a run taken over by another daemon stops being driven here.
    public var leases: LeaseKeeper?
    /// `budgets.per_thread`: what all the runs on one Assistants thread or Responses conversation may spend together.
    public var threadBudget: Budget?
    /// Prices and counts each request's usage (`prices:`); the journal keeps it in `usage`. Logs through the driver's
    /// logger unless replaced.
    public var usageLedger: UsageLedger

    public init(backend: any ToolLoopBackend, journal: any RunJournal, dispatcher: ToolDispatcher, policy: SnapshotPolicy, logger: Logger) {
        self.init(backends: [backend], journal: journal, dispatcher: dispatcher, policy: policy, logger: logger)
    }

    public init(backends: [any ToolLoopBackend], journal: any RunJournal, dispatcher: ToolDispatcher, policy: SnapshotPolicy, logger: Logger) {
        self.init(providers: [ProviderRoute(name: "default", backends: backends)], journal: journal, dispatcher: dispatcher, policy: policy, logger: logger)
    }

    /// A driver over several providers; `providers` must not be empty (the first is the default).
    public init(providers: [ProviderRoute], journal: any RunJournal, dispatcher: ToolDispatcher, policy: SnapshotPolicy, logger: Logger) {
        precondition(!providers.isEmpty, "a driver needs a provider")
        self.providers = providers
        self.journal = journal
        self.dispatcher = dispatcher
        self.policy = policy
        self.logger = logger
        self.usageLedger = UsageLedger(logger: logger)
        self.schedule = RetrySchedule(maxStartRetries: 0, backoff: { _ in .zero })
        self.clock = SystemDriverClock()
    }

    /// Starts a loop and follows it to its end.
    public func run(_ request: RunRequest) async throws -> RunOutcome {
        let runKey = try await journal.createRun(
            assistantID: request.assistantID, threadID: request.threadID, jobID: request.jobID,
            request: .object(request.summary), protocolName: request.protocolName, model: request.model)
        var state = makeState(runKey: runKey, protocolName: request.protocolName, request: request, nextSeq: 1, loopID: nil)
        state.threadID = request.threadID
        // A container the caller named belongs to its provider: such a loop is never moved.
        state.fallbacks = request.threadID == nil ? fallbackChain(after: state.provider.name) : []
        state.machine.failoverAvailable = state.fallbacks.contains { $0.backends[request.protocolName] != nil }
        WorkerMetrics.runsStarted.increment()
        leases?.register(runKey)
        defer { leases?.unregister(runKey) }
        var log = logger
        log[metadataKey: "run_key"] = "\(runKey)"
        log.info("starting run", metadata: [
            "protocol": "\(request.protocolName)", "assistant": "\(request.assistantID)", "model": "\(request.model ?? "-")",
            "thread": "\(request.threadID ?? "new")",
        ])
        let beginning: LoopMachine.Beginning = if route(request.provider) == nil {
            .unknownProvider(request.provider ?? "")
        } else if state.provider.backends[request.protocolName] == nil {
            .unsupportedProtocol(request.protocolName)
        } else {
            .start(needsContainer: request.threadID == nil)
        }
        return try await inAgentSpan(request, runKey: runKey, resumedID: nil) {
            try await drive(from: .begin(beginning), state: &state, logger: log)
        }
    }

    /// Follows a loop already known to the journal (after a restart): reconcile with the server, then go on.
    public func resume(_ record: RunRecord) async throws -> RunOutcome {
        leases?.register(record.key)
        defer { leases?.unregister(record.key) }
        let nextSeq = try await journal.lastEventSeq(runKey: record.key) + 1
        let request = RunRequest(record: record)
        var state = makeState(runKey: record.key, protocolName: record.protocolName, request: request, nextSeq: nextSeq, loopID: record.runID)
        state.threadID = record.threadID
        state.rounds = record.rounds
        state.stream = try await journal.lastStream(runKey: record.key)
        var log = logger
        log[metadataKey: "run_key"] = "\(record.key)"
        log.notice("resuming run after restart", metadata: ["run_id": "\(record.runID ?? "unknown")"])
        WorkerMetrics.recoveries.increment()
        // What every later request of the loop repeats (a Responses model, instructions, metadata).
        state.session.restore(request, runKey: record.key, history: try await journal.loopHistory(runKey: record.key))
        return try await inAgentSpan(request, runKey: record.key, resumedID: record.runID ?? "unknown") {
            try await drive(from: .begin(.resume(loopID: record.runID)), state: &state, logger: log)
        }
    }

    /// The backend of `protocolName` on `provider` (`nil`: the default provider), or one whose every request fails
    /// clearly (a run whose protocol or provider this process was not set up for).
    public func backend(for protocolName: String, provider: String? = nil) -> any ToolLoopBackend {
        route(provider)?.backends[protocolName] ?? UnavailableBackend(protocolName: protocolName)
    }

    /// The provider called `name` (`nil`: the default one).
    func route(_ name: String?) -> ProviderRoute? {
        guard let name else { return providers[0] }
        return providers.first { $0.name == name }
    }

    /// The `fallback:` providers after `name`, in chain order (the whole chain when `name` is not in it).
    func fallbackChain(after name: String) -> [ProviderRoute] {
        let names = fallback.firstIndex(of: name).map { Array(fallback[($0 + 1)...]) } ?? fallback.filter { $0 != name }
        return names.compactMap { route($0) }
    }

    private func makeState(runKey: Int64, protocolName: String, request: RunRequest, nextSeq: Int, loopID: String?) -> DriveState {
        let provider = route(request.provider) ?? ProviderRoute(name: request.provider ?? "default", backends: [])
        let backend = backend(for: protocolName, provider: request.provider)
        var recorder = StreamRecorder(journal: journal, runKey: runKey, nextSeq: nextSeq, ledger: usageLedger, model: request.model)
        recorder.provider = provider.name
        var state = DriveState(
            runKey: runKey, request: request, provider: provider, backend: backend, policy: policy, tools: dispatcher.registry.definitions,
            recorder: recorder,
            machine: LoopMachine(schedule: schedule.adopting(backend), submitRefusalIsFinal: backend.submitRefusalIsFinal, loopID: loopID))
        state.maxRounds = request.maxRounds ?? maxRounds
        return state
    }

    /// What one drive knows besides its machine's state; owned by the driving task.
    struct DriveState {
        var runKey: Int64
        /// What the loop was started with (rebuilt from the journal after a restart).
        var request: RunRequest
        /// The provider the loop is on.
        var provider: ProviderRoute
        /// The `fallback:` providers it may still move to before it starts.
        var fallbacks: [ProviderRoute] = []
        /// The provider the loop was meant for, once it moved to a fallback.
        var movedFrom: String?
        var backend: any ToolLoopBackend
        var session: any ToolLoopSession
        var recorder: StreamRecorder
        var machine: LoopMachine
        var threadID: String?
        var rounds = 0
        /// Rounds this loop may take.
        var maxRounds = 100
        /// The number of the current stream (the event log's `stream`).
        var stream = 0
        /// The stream the last request opened, read by the next ``LoopMachine/Action/consumeStream``.
        var openStream: (any LoopEventStream)?
        /// When the last request for outputs arrived.
        var requiresActionAt: ContinuousClock.Instant?
        /// The round being answered: its calls, their approvals, and their outputs once ready.
        var round = RoundInProgress()
        /// How long the last start would have waited for its rate limit, when it was not sent for that.
        var rateLimitWait: Duration?
        /// The `chat` span of the model request whose stream is open or about to be read.
        var chatSpan: (any Span)?
        /// The tokens its stream reported so far.
        var chatTokens: (input: Int64, output: Int64) = (0, 0)

        var loopID: String? { machine.loopID }

        init(
            runKey: Int64, request: RunRequest, provider: ProviderRoute, backend: any ToolLoopBackend, policy: SnapshotPolicy,
            tools: [ToolDefinition], recorder: StreamRecorder, machine: LoopMachine
        ) {
            self.runKey = runKey
            self.request = request
            self.provider = provider
            self.backend = backend
            self.session = backend.makeSession(policy: policy, tools: tools)
            self.recorder = recorder
            self.machine = machine
        }
    }

    /// The round between its request for outputs and their submit.
    struct RoundInProgress {
        var calls: [ToolCall] = []
        var approvals = ApprovalsInProgress()
        var outputs: [ToolOutput] = []
    }

    /// Feeds the machine `first`, performs what it asks, and so on until it ends the loop.
    func drive(from first: LoopMachine.Input, state: inout DriveState, logger: Logger) async throws -> RunOutcome {
        var input = first
        while true {
            let actions = state.machine.handle(input, at: clock.now())
            var next: LoopMachine.Input?
            for action in actions {
                switch try await perform(action, state: &state, logger: logger) {
                case .input(let answer): next = answer
                case .ended(var outcome):
                    endChat(nil, state: &state)
                    outcome.provider = state.provider.name
                    outcome.movedProvider = state.movedFrom != nil
                    return outcome
                case .done: break
                }
            }
            guard let next else {
                // Every list the machine returns ends with a request or an ending; an empty answer is its bug.
                let message = "internal error: the run machine asked for nothing after \(LoopMachine.name(of: input)) in state "
                    + "\(LoopMachine.name(of: state.machine.state)); transitions: \(state.machine.trail.joined(separator: "; "))"
                return try await finishWithError(message, code: "internal_error", state: &state, logger: logger)
            }
            input = next
        }
    }
}
