import Logging

/// Drives one run from start to a terminal state: stream, answer every `requires_action` round through the
/// handlers, submit with `stream: true`, stream again, and so on, storing every event and snapshot on the way.
///
/// A stream that drops, stalls or ends early is not the end: the driver asks the server for the run's state and
/// goes on (submitting if it waits for outputs, polling while it works). Failures never escape as thrown errors
/// except the store's own: every outcome is recorded and returned.
public struct RunDriver: Sendable {
    public let client: AssistantsClient
    public let store: AuditStore
    public var dispatcher: ToolDispatcher
    public let policy: SnapshotPolicy
    public let logger: Logger
    /// Longest wait between two polls of a run that is working without a stream.
    public var maxPollInterval: Duration = .seconds(5)
    /// Seconds past a run's `expires_at` after which a run that is still working is given up on.
    public var pollPastExpiry: Double = 600
    /// Tool time-outs are shortened so a round ends this long before the run's `expires_at`.
    public var expiryMargin: Duration = .seconds(5)
    /// Called once per round with its timings (benchmarks and metrics).
    public var onRound: (@Sendable (RoundTiming) -> Void)?
    /// When triggered, the driver aborts its stream, lets a running round finish and submit, and returns a
    /// `suspended` outcome; the run stays open in the store and is resumed at the next start.
    public var shutdown: ShutdownSignal?

    public init(client: AssistantsClient, store: AuditStore, dispatcher: ToolDispatcher, policy: SnapshotPolicy, logger: Logger) {
        self.client = client
        self.store = store
        self.dispatcher = dispatcher
        self.policy = policy
        self.logger = logger
    }

    /// Starts a run and follows it to its end.
    public func run(_ request: RunRequest) async throws -> RunOutcome {
        let runKey = try await store.createRun(
            assistantID: request.assistantID, threadID: request.threadID, jobID: request.jobID,
            request: .object(request.body(runKey: 0)))
        var state = DriveState(runKey: runKey, recorder: StreamRecorder(store: store, runKey: runKey, policy: policy))
        state.threadID = request.threadID
        var log = logger
        log[metadataKey: "run_key"] = "\(runKey)"
        log.info("starting run", metadata: ["assistant": "\(request.assistantID)", "thread": "\(request.threadID ?? "new")"])
        return try await start(request, state: &state, logger: log)
    }

    /// Follows a run already known to the store (after a restart): reconcile with the server, then go on.
    public func resume(_ record: RunRecord) async throws -> RunOutcome {
        let nextSeq = try await store.lastEventSeq(runKey: record.key) + 1
        var state = DriveState(runKey: record.key, recorder: StreamRecorder(store: store, runKey: record.key, policy: policy, nextSeq: nextSeq))
        state.threadID = record.threadID
        state.runID = record.runID
        state.rounds = record.rounds
        state.stream = try await store.lastStream(runKey: record.key)
        var log = logger
        log[metadataKey: "run_key"] = "\(record.key)"
        log.notice("resuming run after restart", metadata: ["run_id": "\(record.runID ?? "unknown")"])
        if record.runID == nil, let threadID = record.threadID, let adopted = try? await findCreatedRun(threadID: threadID, runKey: record.key) {
            // The create request had reached the server: follow that run, never start a second one.
            log.notice("found the run created before the restart", metadata: ["run_id": "\(adopted.id ?? "?")"])
            try await adopt(adopted, threadID: threadID, state: &state)
        }
        guard state.runID != nil, state.threadID != nil else {
            return try await finishWithError(
                "the run was being created when ToolWorker stopped and the server has no run for it",
                code: "interrupted_start", state: &state, logger: log)
        }
        return try await follow(first: .reconcile(reason: "resumed after restart"), state: &state, logger: log)
    }

    // MARK: The loop

    enum Step {
        case stream(EventStreamResponse)
        case reconcile(reason: String)
    }

    struct DriveState: Sendable {
        var runKey: Int64
        var recorder: StreamRecorder
        var accumulator = SnapshotAccumulator()
        var threadID: String?
        var runID: String?
        var rounds = 0
        var stream = 0
        /// The latest known run object (from a stream or a retrieve).
        var run: Run?
        /// The current stream carried a `thread.run.requires_action` event.
        var sawRequiresAction = false
        /// When the last `requires_action` event arrived.
        var requiresActionAt: ContinuousClock.Instant?
        /// Set when ToolWorker ended the run with an error of its own.
        var errorOutcome: RunOutcome?
    }

    func follow(first: Step, state: inout DriveState, logger: Logger) async throws -> RunOutcome {
        var step = first
        while true {
            if shutdown?.isTriggered == true {
                try await state.recorder.flush()
                logger.notice("run suspended for shutdown; it resumes at the next start", metadata: ["run_id": "\(state.runID ?? "?")"])
                return RunOutcome(
                    runKey: state.runKey, runID: state.runID, threadID: state.threadID, status: RunOutcome.suspended,
                    detail: "suspended by shutdown", rounds: state.rounds, finalText: nil)
            }
            switch step {
            case .stream(let response):
                state.stream += 1
                let streamError = await consume(response, state: &state)
                // Queued, not awaited: the next awaited write (the round's tool calls, or the finish) makes these
                // durable first, as the writer commits in order.
                state.recorder.push()
                if let status = state.run?.status, status.isTerminal {
                    return try await finish(state: &state, logger: logger)
                }
                if state.run?.status == .requiresAction, streamError == nil || state.sawRequiresAction {
                    step = try await answerRound(state: &state, logger: logger)
                    continue
                }
                let reason = streamError.map { "stream failed: \($0)" } ?? "stream ended before the run finished"
                logger.warning("stream interrupted; reconciling with the server", metadata: ["run_id": "\(state.runID ?? "?")", "reason": "\(reason)"])
                step = .reconcile(reason: reason)
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
    func consume(_ response: EventStreamResponse, state: inout DriveState) async -> (any Error)? {
        let events = response.events(accumulator: state.accumulator)
        state.sawRequiresAction = false
        let body = response.body
        let hook = shutdown?.register { body.abort() }
        defer { shutdown?.unregister(hook) }
        // A server that trickles bytes (a comment every few seconds, a frame byte by byte) never trips the HTTP
        // idle time-out: the stream is also a stall when no whole event arrives for as long.
        let watchdog = StreamWatchdog(limit: client.configuration.http.idleTimeout) { body.abort() }
        defer { watchdog.stop() }
        var failure: (any Error)?
        do {
            while let element = try await events.next() {
                watchdog.progressed()
                guard case .event(let event) = element else { continue }
                state.recorder.record(event, stream: state.stream, accumulator: events.accumulator)
                switch event.event {
                case .run(let kind, let run):
                    state.run = run
                    state.runID = run.id ?? state.runID
                    state.threadID = run.threadID ?? state.threadID
                    if kind == .requiresAction {
                        state.sawRequiresAction = true
                        state.requiresActionAt = .now
                    }
                case .threadCreated(let thread):
                    state.threadID = thread.id ?? state.threadID
                case .error(let error):
                    failure = AssistantsError.api(APIError(status: 200, type: error.type, code: error.code, message: error.message, param: error.param, requestID: response.requestID))
                default:
                    break
                }
            }
        } catch {
            failure = watchdog.fired ? StreamStalled(limit: watchdog.limit) : error
            state.recorder.note("toolworker.stream_error", ["error": .string("\(failure!)")], stream: state.stream)
        }
        state.accumulator = events.accumulator
        return failure
    }
}
