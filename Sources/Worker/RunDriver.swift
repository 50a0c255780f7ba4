import Journal
import Logging
import ToolRunner
import WireFormat
import WorkModel

/// Drives one tool loop (an Assistants run, a Responses response) from start to a terminal state: stream, answer
/// every round of tool calls through the handlers, submit with `stream: true`, stream again, and so on, storing
/// every event and snapshot on the way.
///
/// A stream that drops, stalls or ends early is not the end: the driver asks the server for the loop's state and
/// goes on (submitting if it waits for outputs, polling while it works). Failures never escape as thrown errors
/// except the store's own and cancellation: every outcome is recorded and returned. The protocol is behind
/// ``ToolLoopBackend``; nothing here knows its wire types.
public struct RunDriver: Sendable {
    /// The protocols this driver speaks, by ``ToolLoopBackend/protocolName``.
    public let backends: [String: any ToolLoopBackend]
    public let store: AuditStore
    public var dispatcher: ToolDispatcher
    public let policy: SnapshotPolicy
    public let logger: Logger
    /// Longest wait between two polls of a loop that is working without a stream.
    public var maxPollInterval: Duration = .seconds(5)
    /// Seconds past a loop's `expires_at` (or of polling, when it has none) after which a loop that is still
    /// working is given up on.
    public var pollPastExpiry: Double = 600
    /// Tool rounds a loop may take (`max_rounds`; a request's own ``RunRequest/maxRounds`` wins): past it the loop
    /// ends with `error_code` `max_rounds` instead of answering a model that never stops calling tools.
    public var maxRounds = 100
    /// A round with more calls than this ends the loop (`too_many_calls`) instead of starting them all.
    public var maxCallsPerRound = 128
    /// A round whose calls' arguments add up to more bytes than this ends the loop (`arguments_too_large`).
    public var maxArgumentBytes = 4 * 1024 * 1024
    /// How often a round waiting for approvals looks at the journal for a decision.
    public var approvalPollInterval: Duration = .milliseconds(500)
    /// `approval_notify:`: told of each new request for approval (it never delays or decides anything).
    public var approvalNotifier: ApprovalNotifier?
    /// Seals each approval request this driver makes and refuses a request whose seal is not valid (one planted in
    /// the journal); `nil` (no key) seals nothing and checks nothing.
    public var approvalSeal: ApprovalSeal?
    /// Tool time-outs are shortened so a round ends this long before the loop's `expires_at`.
    public var expiryMargin: Duration = .seconds(5)
    /// Called once per round with its timings (benchmarks and metrics).
    public var onRound: (@Sendable (RoundTiming) -> Void)?
    /// When triggered, the driver aborts its stream, lets a running round finish and submit, and returns a
    /// `suspended` outcome; the loop stays open in the store and is resumed at the next start.
    public var shutdown: ShutdownSignal?
    /// The leases of the runs this process drives: a run taken over by another daemon stops being driven here.
    public var leases: LeaseKeeper?

    public init(backend: any ToolLoopBackend, store: AuditStore, dispatcher: ToolDispatcher, policy: SnapshotPolicy, logger: Logger) {
        self.init(backends: [backend], store: store, dispatcher: dispatcher, policy: policy, logger: logger)
    }

    public init(backends: [any ToolLoopBackend], store: AuditStore, dispatcher: ToolDispatcher, policy: SnapshotPolicy, logger: Logger) {
        self.backends = Dictionary(backends.map { ($0.protocolName, $0) }, uniquingKeysWith: { first, _ in first })
        self.store = store
        self.dispatcher = dispatcher
        self.policy = policy
        self.logger = logger
    }

    /// Starts a loop and follows it to its end.
    public func run(_ request: RunRequest) async throws -> RunOutcome {
        let runKey = try await store.createRun(
            assistantID: request.assistantID, threadID: request.threadID, jobID: request.jobID,
            request: .object(request.summary), protocolName: request.protocolName, model: request.model)
        var state = DriveState(
            runKey: runKey, backend: backend(for: request.protocolName), policy: policy, tools: dispatcher.registry.definitions,
            recorder: StreamRecorder(store: store, runKey: runKey))
        state.threadID = request.threadID
        state.maxRounds = request.maxRounds ?? maxRounds
        WorkerMetrics.runsStarted.increment()
        leases?.register(runKey)
        defer { leases?.unregister(runKey) }
        var log = logger
        log[metadataKey: "run_key"] = "\(runKey)"
        log.info("starting run", metadata: [
            "protocol": "\(request.protocolName)", "assistant": "\(request.assistantID)", "model": "\(request.model ?? "-")",
            "thread": "\(request.threadID ?? "new")",
        ])
        guard backends[request.protocolName] != nil else {
            return try await finishWithError(
                "this ToolWorker is not set up for protocol '\(request.protocolName)'", code: "unsupported_protocol", state: &state, logger: log)
        }
        return try await start(request, state: &state, logger: log)
    }

    /// Follows a loop already known to the store (after a restart): reconcile with the server, then go on.
    public func resume(_ record: RunRecord) async throws -> RunOutcome {
        leases?.register(record.key)
        defer { leases?.unregister(record.key) }
        let nextSeq = try await store.lastEventSeq(runKey: record.key) + 1
        var state = DriveState(
            runKey: record.key, backend: backend(for: record.protocolName), policy: policy, tools: dispatcher.registry.definitions,
            recorder: StreamRecorder(store: store, runKey: record.key, nextSeq: nextSeq))
        state.threadID = record.threadID
        state.loopID = record.runID
        state.rounds = record.rounds
        let request = RunRequest(record: record)
        state.maxRounds = request.maxRounds ?? maxRounds
        state.stream = try await store.lastStream(runKey: record.key)
        var log = logger
        log[metadataKey: "run_key"] = "\(record.key)"
        log.notice("resuming run after restart", metadata: ["run_id": "\(record.runID ?? "unknown")"])
        WorkerMetrics.recoveries.increment()
        // What every later request of the loop repeats (a Responses model, instructions, metadata).
        state.session.restore(request, runKey: record.key, history: try await store.loopHistory(runKey: record.key))
        if record.runID == nil, let found = try? await state.session.find(runKey: record.key, threadID: record.threadID) {
            // The start request had reached the server: follow that loop, never start a second one.
            log.notice("found the run created before the restart", metadata: ["run_id": "\(found.id ?? "?")"])
            try await adopt(found, state: &state)
        }
        guard state.loopID != nil else {
            return try await finishWithError(
                "the run was being created when ToolWorker stopped and the server has no run for it",
                code: "interrupted_start", state: &state, logger: log)
        }
        return try await follow(first: .reconcile(reason: "resumed after restart"), state: &state, logger: log)
    }

    /// The backend of `protocolName`, or one whose every request fails clearly (a run whose protocol this process
    /// was not set up for).
    func backend(for protocolName: String) -> any ToolLoopBackend {
        backends[protocolName] ?? UnavailableBackend(protocolName: protocolName)
    }

    // MARK: The loop

    enum Step {
        case stream(any LoopEventStream)
        case reconcile(reason: String)
        /// ToolWorker ended the loop itself (`state.errorOutcome`).
        case stop
        /// Another daemon took the run over: stop driving it, touching nothing.
        case leaseLost
    }

    /// What one drive knows; owned by the driving task.
    struct DriveState {
        var runKey: Int64
        var backend: any ToolLoopBackend
        var session: any ToolLoopSession
        var recorder: StreamRecorder
        var threadID: String?
        var loopID: String?
        var rounds = 0
        /// Rounds this loop may take.
        var maxRounds = 100
        var stream = 0
        /// The latest known state of the loop (from a stream or a retrieve).
        var loop: LoopState?
        /// The current stream carried the event that asked for outputs.
        var sawRequiresAction = false
        /// When the last request for outputs arrived.
        var requiresActionAt: ContinuousClock.Instant?
        /// Resumed streams in a row that brought no event (then the driver polls instead).
        var fruitlessResumes = 0
        /// Resumes since the loop last moved on (a round answered): they back off and are bounded.
        var resumes = 0
        /// The server said it cannot resume streams.
        var resumeUnsupported = false
        /// The broken answer of this round was already asked for once more.
        var retriedAfterViolation = false
        /// Requests sent again to a server that keeps no state, after a response it lost.
        var resends = 0
        /// Submits of the current round that failed in a row.
        var submitFailures = 0
        /// Set when ToolWorker ended the loop with an error of its own.
        var errorOutcome: RunOutcome?

        init(runKey: Int64, backend: any ToolLoopBackend, policy: SnapshotPolicy, tools: [ToolDefinition], recorder: StreamRecorder) {
            self.runKey = runKey
            self.backend = backend
            self.session = backend.makeSession(policy: policy, tools: tools)
            self.recorder = recorder
        }
    }

    func follow(first: Step, state: inout DriveState, logger: Logger) async throws -> RunOutcome {
        var step = first
        while true {
            if leases?.isLost(state.runKey) == true {
                logger.warning(
                    "lease lost: another daemon took this run over; no longer driving it",
                    metadata: ["run_id": "\(state.loopID ?? "?")"])
                WorkerMetrics.leasesLost.increment()
                return RunOutcome(
                    runKey: state.runKey, runID: state.loopID, threadID: state.threadID, status: .suspended,
                    detail: "lease lost to another daemon", rounds: state.rounds, finalText: nil)
            }
            if shutdown?.isTriggered == true {
                try await state.recorder.flush()
                logger.notice("run suspended for shutdown; it resumes at the next start", metadata: ["run_id": "\(state.loopID ?? "?")"])
                WorkerMetrics.runEnded(.suspended, rounds: state.rounds)
                return RunOutcome(
                    runKey: state.runKey, runID: state.loopID, threadID: state.threadID, status: .suspended,
                    detail: "suspended by shutdown", rounds: state.rounds, finalText: nil)
            }
            switch step {
            case .stream(let stream):
                state.stream += 1
                let streamError = await consume(stream, state: &state)
                // Queued, not awaited: the next awaited write (the round's tool calls, or the finish) makes these
                // durable first, as the writer commits in order.
                state.recorder.push()
                if let violation = streamError as? LoopError, violation.isProtocolViolation {
                    guard let next = try await protocolViolation(violation, state: &state, logger: logger) else {
                        if let outcome = state.errorOutcome { return outcome }
                        return try await finish(state: &state, logger: logger)
                    }
                    step = next
                    continue
                }
                if case .ended? = state.loop?.phase {
                    return try await finish(state: &state, logger: logger)
                }
                // Outputs are answered straight away only when this stream asked for them; anything else (a stream
                // that ended without a word) is checked with the server first, so a round is never answered twice.
                if case .needsOutputs? = state.loop?.phase, state.sawRequiresAction {
                    step = try await answerRound(state: &state, logger: logger)
                    continue
                }
                let reason = streamError.map { "stream failed: \($0)" } ?? "stream ended before the run finished"
                logger.warning("stream interrupted; reconciling with the server", metadata: ["run_id": "\(state.loopID ?? "?")", "reason": "\(reason)"])
                step = .reconcile(reason: reason)
            case .leaseLost:
                continue  // the check at the top of the loop returns
            case .stop:
                if let outcome = state.errorOutcome { return outcome }
                return try await finish(state: &state, logger: logger)
            case .reconcile(let reason):
                guard let next = try await reconcile(reason: reason, state: &state, logger: logger) else {
                    if let outcome = state.errorOutcome { return outcome }
                    return try await finish(state: &state, logger: logger)
                }
                step = next
            }
        }
    }

    /// Reads one stream to its end, recording everything. Returns the error that ended it early, if any.
    func consume(_ stream: any LoopEventStream, state: inout DriveState) async -> (any Error)? {
        state.sawRequiresAction = false
        let abort = stream.abort
        let hook = shutdown?.register(abort)
        defer { shutdown?.unregister(hook) }
        leases?.setAbort(state.runKey, abort)
        defer { leases?.setAbort(state.runKey, nil) }
        // A server that trickles bytes (a comment every few seconds, a frame byte by byte) never trips the HTTP
        // idle time-out: the stream is also a stall when no whole event arrives for as long.
        let watchdog = StreamWatchdog(limit: state.backend.idleTimeout, onStall: abort)
        defer { watchdog.stop() }
        var failure: (any Error)?
        do {
            while let event = try await stream.next() {
                watchdog.progressed()
                state.fruitlessResumes = 0
                state.recorder.record(event, stream: state.stream)
                await store.waitForRoom()
                if let loop = event.state {
                    if let id = loop.id, id != state.loopID, let holder = try? await store.runKey(holding: id), holder != state.runKey {
                        // A server that reuses ids: this loop cannot be told apart from run key `holder` in the journal.
                        failure = LoopError(
                            .protocolViolation(retryable: false), code: "duplicate_run_id",
                            message: "the server gave this run the id \(id), which the journal already holds for run key \(holder)")
                        stream.abort()
                        break
                    }
                    state.loop = loop
                    state.loopID = loop.id ?? state.loopID
                    state.threadID = loop.threadID ?? state.threadID
                    if case .needsOutputs = loop.phase {
                        state.sawRequiresAction = true
                        state.requiresActionAt = .now
                    }
                }
                if let error = event.failure { failure = error }
            }
        } catch {
            let reported: any Error = watchdog.fired ? StreamStalled(limit: watchdog.limit) : error
            failure = reported
            state.recorder.note("toolworker.stream_error", ["error": .string("\(reported)")], stream: state.stream)
        }
        return failure
    }
}
