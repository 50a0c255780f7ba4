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

    /// Whether the job is over.
    public var isFinal: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

/// How a driven tool loop (a run, a response) ended, as the worker, the queue and the command line see it.
public enum OutcomeStatus: String, Sendable, CaseIterable {
    /// The server's terminal statuses.
    case completed, failed, incomplete, expired, cancelled
    /// ToolWorker could not start or follow the loop (its own `error_code` says why).
    case error
    /// Left open by a graceful shutdown: resumed at the next start.
    case suspended
}

/// When snapshots are stored: at lifecycle events only (the default), or after every delta too.
///
/// `all` stores the whole object after each delta, so its cost grows with the square of a message's length:
/// meant for debugging short runs, not for production.
public enum SnapshotPolicy: String, Sendable, CaseIterable {
    case lifecycle
    case all
}
