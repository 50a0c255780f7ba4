import WireFormat
/// The state of one tool call in the journal, from the round that asks for it to its answer.
public enum ToolCallState: String, Sendable, CaseIterable {
    /// Recorded with its round; its handler has not started.
    case pending
    /// Its handler may be running (durably marked before the start): after a crash, `on_restart` decides.
    case running
    case succeeded, failed
    case timedOut = "timed_out"
    /// The process died while the handler ran and its `on_restart` says not to run it again.
    case interrupted

    /// Whether the call has its answer.
    public var isFinal: Bool { self != .pending && self != .running }
}

/// The state of a queued job.
public enum JobState: String, Sendable, CaseIterable {
    case queued, running, succeeded, failed, cancelled
    /// Parked: its start would have waited longer than `rate_limits.park_after` for the key's rate limit. Taken
    /// again when due (`not_before`), the attempt not counted.
    case waitingRateLimit = "waiting_rate_limit"

    /// Whether the job is over.
    public var isFinal: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

/// How a driven tool loop (a run, a response) ended, as the worker, the queue and the command line see it.
public enum OutcomeStatus: String, Sendable, CaseIterable {
    /// The server's terminal statuses.
    case completed, failed, incomplete, expired, cancelled
    /// ToolWorker could not start or follow the loop (its own `error_code` says why).
    case error
    /// Stopped by its budget before a request that would have passed it (`--budget`): no further request was sent.
    case budgetExceeded = "budget_exceeded"
    /// Left open by a graceful shutdown: resumed at the next start.
    case suspended
}

/// When snapshots are stored: at lifecycle events only (the default), or after deltas too.
///
/// `all` adds, for each object, its accumulated snapshot after its 1st, 2nd, 4th, 8th … delta
/// (``DeltaSnapshotSampler``): every state in between is that snapshot plus the deltas after it in the event log,
/// and the bytes stay within about twice the object's final size however long the answer (a snapshot after every
/// delta would grow with the square of its length).
public enum SnapshotPolicy: String, Sendable, CaseIterable {
    case lifecycle
    case all
}
