import Operations
import ToolRunner
import Journal
import WorkModel
import WireFormat
import CoreMetrics
import Foundation
import Logging
import Synchronization

/// Takes jobs from the store's queue and drives their runs, up to `maxRuns` at once, one run per thread at a
/// time; resumes every open run after a restart; retries runs that fail for a retryable reason; and drains on
/// shutdown. The loop that does this work is the one that pets the systemd watchdog.
///
/// With a shared (PostgreSQL) journal several schedulers serve one queue: each claims jobs with `SKIP LOCKED`,
/// holds leases on the runs it drives (renewed every heartbeat), and takes over runs and claimed jobs whose lease
/// expired, resuming them exactly as a restart does.
public final class JobScheduler: Sendable {
    public struct Configuration: Sendable {
        public var maxRuns = 64
        public var retryBackoff: Duration = .seconds(5)
        /// How long running work may take to finish after shutdown is triggered.
        public var shutdownGrace: Duration = .seconds(30)
        public var pollInterval: Duration = .milliseconds(250)
        /// The longest wait between two looks at an empty queue: the wait doubles from `pollInterval` while the
        /// queue stays empty (an idle daemon wakes a few times a second, not four times plus every query), and is
        /// back to `pollInterval` as soon as a job is claimed. Never longer than the watchdog allows.
        public var idlePollInterval: Duration = .seconds(2)
        /// How often leases are renewed and expired ones looked for.
        public var heartbeat: Duration = .seconds(5)
        /// Whether the intake loop refreshes the queue and capacity gauges (only when metrics are exported: they
        /// cost a journal query and a stat every two seconds).
        public var recordsGauges = false
        /// `last_error.code`s after which a failed run is started again.
        public var retryableCodes: Set<String> = ["rate_limit_exceeded", "server_error"]
        /// Where the fleet's rate-limit cool-downs (from the journal) go, every few seconds: this daemon's requests
        /// then wait for another daemon's 429 too.
        public var rateLimitBoard: (any RateLimitBoard)?

        public init() {}
    }

    struct State {
        var driver: RunDriver
        var active = 0
        var busyThreads: Set<String> = []
        var completed = 0
        var failed = 0
        /// A drive ended on a store error (a full disk) and left its job `running`: until then, heartbeats take back
        /// whatever this process dropped once its lease has expired, on a private journal too.
        var recoverUntil: ContinuousClock.Instant?
    }

    public let configuration: Configuration
    let store: AuditStore
    let notifier: SystemdNotifier
    let logger: Logger
    public let shutdown: ShutdownSignal
    private let state: Mutex<State>
    /// The leases of the runs driven here (`nil` when the store holds none: one-off use without a daemon owner).
    let leases: LeaseKeeper?
    /// Who takes runs over at recovery (the store's lease owner, or a local stand-in).
    let owner: LeaseOwner

    public init(
        configuration: Configuration, driver: RunDriver, store: AuditStore, notifier: SystemdNotifier, shutdown: ShutdownSignal
    ) {
        self.configuration = configuration
        self.store = store
        self.notifier = notifier
        self.logger = driver.logger
        self.shutdown = shutdown
        let leases = store.leaseOwner.map { LeaseKeeper(owner: $0, heartbeat: configuration.heartbeat) }
        self.leases = leases
        self.owner = store.leaseOwner ?? LeaseOwner(id: "local", expiry: .seconds(30))
        var driver = driver
        driver.shutdown = shutdown
        driver.leases = leases
        self.state = Mutex(State(driver: driver))
    }

    /// Swaps the tool registry used by rounds that start from now on (SIGHUP). Everything else of the driver is
    /// kept, the `tool_calls` limit included: handlers of old and new rounds share one limit.
    public func replaceRegistry(_ registry: ToolRegistry) {
        state.withLock { state in
            state.driver.dispatcher = state.driver.dispatcher.replacingRegistry(registry)
        }
    }

    /// The driver new runs get now (its registry is the latest reload's).
    public var driver: RunDriver { currentDriver() }

    /// The tool registry rounds use now.
    public var registry: ToolRegistry { state.withLock { $0.driver.dispatcher.registry } }

    /// The status line for `systemctl status`.
    public func statusLine(queued: Int) -> String {
        let s = state.withLock { ($0.active, $0.completed, $0.failed) }
        return "\(s.0) runs active, \(queued) queued, \(s.1) completed and \(s.2) not completed since start"
    }

    /// Recovers, then serves the queue until shutdown is triggered, then drains. Returns when every run task has
    /// ended (finished, suspended, or cancelled after the grace period).
    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            try await recover(into: &group)
            var lastPet = ContinuousClock.now - .seconds(3600)
            var lastStatus = ContinuousClock.now - .seconds(3600)
            var lastBeat = ContinuousClock.now
            var healthy = true
            var wait = configuration.pollInterval
            let longestWait = min(configuration.idlePollInterval, notifier.watchdogInterval ?? configuration.idlePollInterval)
            while !shutdown.isTriggered {
                let now = ContinuousClock.now
                // Pet the watchdog only while the loop works: a store that keeps failing lets systemd restart us.
                if healthy { petWatchdog(last: &lastPet) }
                do {
                    if now - lastBeat >= configuration.heartbeat {
                        lastBeat = now
                        try await heartbeat(into: &group)
                    }
                    switch try await intake(into: &group) {
                    case .claimed, .full: wait = configuration.pollInterval
                    case .empty: wait = max(configuration.pollInterval, min(wait * 2, longestWait))
                    }
                    healthy = true
                } catch {
                    if healthy { logger.error("taking jobs failed; retrying", metadata: ["error": "\(error)"]) }
                    healthy = false
                }
                if now - lastStatus >= .seconds(2) {
                    if let board = configuration.rateLimitBoard, let cooldowns = try? await store.activeCooldowns() {
                        board.adopt(cooldowns)
                    }
                    let counts = (try? await store.jobCounts()) ?? [:]
                    notifier.status(statusLine(queued: counts[.queued] ?? 0))
                    if configuration.recordsGauges { await updateGauges(jobCounts: counts) }
                    lastStatus = now
                }
                try? await Task.sleep(for: wait)
            }
            // Draining: streams were aborted by the shutdown hooks; rounds in progress finish and submit.
            let deadline = ContinuousClock.now + configuration.shutdownGrace
            while state.withLock({ $0.active }) > 0 && ContinuousClock.now < deadline {
                petWatchdog(last: &lastPet)
                try? await Task.sleep(for: .milliseconds(50))
            }
            let left = state.withLock { $0.active }
            if left > 0 {
                logger.warning("shutdown grace over; stopping the handlers still running", metadata: ["runs": "\(left)"])
                group.cancelAll()
            }
            while (try? await group.next()) != nil {}
        }
    }

    /// The gauges an operator alerts on: queue depth by state, the oldest queued job's age, runs and handlers
    /// against their limits, the journal's size.
    private func updateGauges(jobCounts: [JobState: Int]) async {
        for state in JobState.allCases {
            Gauge(label: "toolworker_jobs", dimensions: [("state", state.rawValue)]).record(jobCounts[state] ?? 0)
        }
        let oldest = (try? await store.oldestQueuedJobAge()) ?? nil
        Gauge(label: "toolworker_oldest_queued_job_age_seconds").record(oldest.map { Double($0) / 1000 } ?? 0)
        let driver = currentDriver()
        Gauge(label: "toolworker_active_runs").record(state.withLock { $0.active })
        Gauge(label: "toolworker_runs_limit").record(configuration.maxRuns)
        Gauge(label: "toolworker_running_handlers").record(HandlerProcessGroups.current.count)
        Gauge(label: "toolworker_tool_calls_limit").record(driver.dispatcher.maxConcurrentCalls)
        Gauge(label: "toolworker_database_size_bytes").record(await store.databaseSize())
        if let pending = try? await store.pendingApprovals() {
            Gauge(label: "toolworker_pending_approvals").record(pending.count)
        }
    }

    /// `WATCHDOG=1` when a watchdog interval has passed since `last`.
    private func petWatchdog(last: inout ContinuousClock.Instant) {
        guard let interval = notifier.watchdogInterval, ContinuousClock.now - last >= interval else { return }
        notifier.watchdog()
        last = .now
    }

    // MARK: Intake

    /// What one look at the queue found.
    enum Intake {
        /// At least one job was claimed.
        case claimed
        /// No capacity was free (runs finishing free it: look again soon).
        case full
        /// Capacity was free and no job was due.
        case empty
    }

    private func intake(into group: inout ThrowingTaskGroup<Void, any Error>) async throws -> Intake {
        var capacity = configuration.maxRuns - state.withLock { $0.active }
        guard capacity > 0 else { return .full }
        var claimed = false
        while capacity > 0, !shutdown.isTriggered {
            let busy = state.withLock { $0.busyThreads }
            // Claimed in the journal (durable, `SKIP LOCKED` among daemons), up to 64 in one transaction: the journal
            // also refuses a job whose thread has a running job or an open run anywhere in the fleet.
            let jobs = try await store.claimJobs(limit: min(capacity, 64), excludingThreads: busy)
            if jobs.isEmpty { return claimed ? .claimed : .empty }
            claimed = true
            for job in jobs {
                let reserved = state.withLock { state -> Bool in
                    if let thread = job.threadID {
                        if state.busyThreads.contains(thread) { return false }
                        state.busyThreads.insert(thread)
                    }
                    state.active += 1
                    return true
                }
                guard reserved else {
                    // Cannot happen (the claim left out busy threads); hand the job back rather than run it twice.
                    try await store.updateJob(id: job.id, state: .queued)
                    continue
                }
                capacity -= 1
                group.addTask { [self] in await self.drive(job) }
            }
        }
        return claimed ? .claimed : .full
    }

    private func release(thread: String?) {
        state.withLock { state in
            if let thread { state.busyThreads.remove(thread) }
            state.active -= 1
        }
    }

    private func currentDriver() -> RunDriver { state.withLock { $0.driver } }

    private func drive(_ job: JobRecord) async {
        let thread = job.threadID
        leases?.registerJob(job.id)
        defer {
            leases?.unregisterJob(job.id)
            release(thread: thread)
        }
        var log = logger
        log[metadataKey: "job"] = "\(job.id)"
        do {
            // A new job's container (an Assistants thread) is created and stored by the driver before its run,
            // so after a crash the run can always be found on it.
            let alreadyPosted = try await store.jobHasServerRun(id: job.id)
            // A thread or a conversation keeps the message an earlier attempt posted; a loop without one, whose
            // protocol does not create one (a Responses loop), starts afresh and needs it again.
            let driver = currentDriver()
            let keepsNothing = thread == nil
                && !driver.backend(for: job.protocolName, provider: job.options?["provider"]?.stringValue).preparesContainer
            var request = RunRequest(
                assistantID: job.assistantID, threadID: thread, message: alreadyPosted && !keepsNothing ? nil : job.message,
                instructions: job.instructions, metadata: RunRequest.metadataPairs(job.metadata), jobID: job.id,
                protocolName: job.protocolName, model: job.model)
            request.apply(options: job.options?.objectValue)
            let outcome = try await driver.run(request)
            try await finish(job, outcome: outcome, logger: log)
        } catch {
            // The store failed (or we were cancelled): the job stays 'running'. Its leases are no longer renewed, so
            // on a shared journal it is taken over (by any daemon, this one included) once they expire; on SQLite it
            // is recovered at the next start.
            log.error("job interrupted", metadata: ["error": "\(error)"])
            if !(error is CancellationError) {
                // The journal failed (a full disk): once it works again and the lease has lapsed, a heartbeat takes
                // the job back, so it is not left `running` until a restart.
                let until = ContinuousClock.now + owner.expiry + configuration.heartbeat * 4
                state.withLock { $0.recoverUntil = max($0.recoverUntil ?? until, until) }
            }
        }
    }

    private func finish(_ job: JobRecord, outcome: RunOutcome, logger: Logger) async throws {
        if job.threadID == nil, let thread = outcome.threadID, !outcome.movedProvider {
            // Created with the run (create-thread-and-run): later attempts go on the same thread.
            try await store.setJobThread(id: job.id, threadID: thread)
        }
        let code = outcome.errorCode
        switch outcome.status {
        case .suspended:
            return  // resumed at the next start
        case .completed:
            state.withLock { $0.completed += 1 }
            try await store.updateJob(id: job.id, state: .succeeded)
        case .cancelled:
            state.withLock { $0.failed += 1 }
            try await store.updateJob(id: job.id, state: .cancelled, lastError: outcome.detail)
        case .failed where code.map(configuration.retryableCodes.contains) == true:
            try await retryOrFail(job, reason: outcome.detail ?? "failed", retryable: true)
        case .error where code == "rate_limited":
            // Not sent: the key's rate limit would have held the start too long. Parked until then, not failed, the
            // attempt not counted.
            let wait = outcome.rateLimitWait ?? .seconds(30)
            WorkerMetrics.jobsParked.increment()
            logger.notice("job parked until its rate limit allows a start", metadata: ["job": "\(job.id)", "wait_ms": "\(wait.milliseconds)"])
            try await store.updateJob(
                id: job.id, state: .waitingRateLimit, lastError: outcome.detail,
                notBefore: unixMilliseconds() + Int64(wait.milliseconds), uncountAttempt: true)
            return
        case .error where outcome.runID == nil && code.map(Self.isRetryableStartFailure) == true:
            // The run could not be created and the server is known to have none for it: try the job again.
            try await retryOrFail(job, reason: outcome.detail ?? "could not start", retryable: true)
        case .failed, .incomplete, .expired, .error, .budgetExceeded:
            state.withLock { $0.failed += 1 }
            try await store.updateJob(id: job.id, state: .failed, lastError: outcome.detail ?? outcome.status.rawValue)
        }
        logger.info("job ended", metadata: ["run_id": "\(outcome.runID ?? "?")", "status": "\(outcome.status.rawValue)"])
    }

    /// Codes of a start that failed for a passing reason (server errors, rate limits, the network), after
    /// which the server was checked to have no run for the key.
    static func isRetryableStartFailure(_ code: String) -> Bool {
        code == "start_failed" || code == "rate_limit_exceeded" || code == "server_error" || code.hasPrefix("http_5")
    }

    private func retryOrFail(_ job: JobRecord, reason: String, retryable: Bool) async throws {
        let current = try await store.job(id: job.id) ?? job
        if retryable && current.attempts < current.maxAttempts {
            let factor = 1 << min(current.attempts - 1, 10)
            let delay = configuration.retryBackoff * factor
            logger.notice("retrying job after a retryable failure", metadata: [
                "job": "\(job.id)", "attempt": "\(current.attempts)", "delay_ms": "\(delay.milliseconds)", "reason": "\(reason)",
            ])
            try await store.updateJob(
                id: job.id, state: .queued, lastError: reason,
                notBefore: unixMilliseconds() + Int64(delay.milliseconds))
        } else {
            state.withLock { $0.failed += 1 }
            try await store.updateJob(id: job.id, state: .failed, lastError: reason)
        }
    }

    // MARK: Recovery

    /// After a restart: with a private (SQLite) journal every open run and stranded job is this process's to
    /// resume (the daemon lock proves no one else drives them); with a shared one only those whose lease expired.
    private func recover(into group: inout ThrowingTaskGroup<Void, any Error>) async throws {
        if store.isShared {
            try await takeOverExpired(into: &group)
            return
        }
        for (job, lastRun) in try await store.takeOverStrandedJobs(owner, all: true) {
            try await settleStranded(job, lastRun: lastRun)
        }
        for record in try await store.takeOverRuns(owner, limit: Int.max, all: true) {
            startResuming(record, into: &group)
        }
    }

    /// One heartbeat: renew this daemon's leases (runs taken over elsewhere stop here), then take over what other
    /// daemons left behind.
    private func heartbeat(into group: inout ThrowingTaskGroup<Void, any Error>) async throws {
        if let leases {
            let lost = try await leases.beat(store)
            if !lost.isEmpty { logger.warning("leases lost to other daemons", metadata: ["run_keys": "\(lost)"]) }
        }
        let recovering = state.withLock { state -> Bool in
            guard let until = state.recoverUntil else { return false }
            if ContinuousClock.now > until { state.recoverUntil = nil }
            return true
        }
        if store.isShared || recovering { try await takeOverExpired(into: &group) }
    }

    /// Takes over stranded jobs and, up to the free capacity, runs whose lease expired.
    private func takeOverExpired(into group: inout ThrowingTaskGroup<Void, any Error>) async throws {
        // On a private journal only what this daemon itself dropped is taken back (another command may be driving a
        // run there without a lease), and nothing still driven here is taken twice.
        let onlyOwn = !store.isShared
        for (job, lastRun) in try await store.takeOverStrandedJobs(owner, onlyOwn: onlyOwn) where leases?.isDrivingJob(job.id) != true {
            logger.notice("took over a job its daemon left claimed", metadata: ["job": "\(job.id)"])
            try await settleStranded(job, lastRun: lastRun)
        }
        let capacity = configuration.maxRuns - state.withLock { $0.active }
        guard capacity > 0 else { return }
        for record in try await store.takeOverRuns(owner, limit: capacity, onlyOwn: onlyOwn) where leases?.isDriving(record.key) != true {
            logger.notice("took over a run whose lease expired", metadata: ["run_key": "\(record.key)", "run_id": "\(record.runID ?? "?")"])
            WorkerMetrics.takeovers.increment()
            startResuming(record, into: &group)
        }
    }

    /// A job marked running with no open run: its run ended before the process stopped (finish the job from it),
    /// or never started (queue it again).
    private func settleStranded(_ job: JobRecord, lastRun: RunRecord?) async throws {
        if let lastRun, lastRun.endedAt != nil, lastRun.status != OutcomeStatus.error.rawValue || lastRun.runID != nil {
            logger.notice("finishing a job whose run ended before the restart", metadata: ["job": "\(job.id)"])
            let outcome = RunOutcome(
                runKey: lastRun.key, runID: lastRun.runID, threadID: lastRun.threadID,
                status: OutcomeStatus(rawValue: lastRun.status) ?? .error,
                detail: lastRun.snapshot?["last_error"]?["message"]?.stringValue, rounds: lastRun.rounds, finalText: nil,
                errorCode: lastRun.snapshot?["last_error"]?["code"]?.stringValue)
            try await finish(job, outcome: outcome, logger: logger)
        } else {
            logger.notice("requeueing a job that had not started its run before the restart", metadata: ["job": "\(job.id)"])
            try await store.updateJob(id: job.id, state: .queued)
        }
    }

    /// Resumes a run this process now holds, and finishes its job when it ends.
    private func startResuming(_ record: RunRecord, into group: inout ThrowingTaskGroup<Void, any Error>) {
        state.withLock { state in
            if let thread = record.threadID { state.busyThreads.insert(thread) }
            state.active += 1
        }
        if let job = record.jobID { leases?.registerJob(job) }
        group.addTask { [self] in
            defer {
                if let job = record.jobID { leases?.unregisterJob(job) }
                release(thread: record.threadID)
            }
            do {
                let job = try await record.jobID.asyncMap { try await store.job(id: $0) } ?? nil
                let outcome = try await currentDriver().resume(record)
                if let job {
                    if outcome.status == .error, outcome.runID == nil {
                        // The create never reached the server: the job starts over.
                        try await store.updateJob(id: job.id, state: .queued)
                    } else {
                        try await finish(job, outcome: outcome, logger: logger)
                    }
                }
            } catch {
                logger.error("resuming a run failed", metadata: ["run_key": "\(record.key)", "error": "\(error)"])
            }
        }
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
