/// Every limit and delay of a loop's retries, polls and resumes, in one place (filled from configuration and the
/// backend's client retry policy). ``LoopMachine`` decides with it; nothing else sleeps on its own numbers.
public struct RetrySchedule: Sendable {
    /// Times a failed start is tried again; also bounds resends to a server that keeps no state and stream resumes
    /// since the loop last moved on (`api.max_retries`).
    public var maxStartRetries: Int
    /// Backoff before try `attempt + 1` of a start or a resume (the client's retry policy, jitter included).
    public var backoff: @Sendable (_ attempt: Int) -> Duration
    /// First wait between two retrieves of a loop that is working without a stream; doubled up to
    /// ``maxPollInterval``.
    public var firstPollInterval: Duration = .milliseconds(250)
    /// Longest wait between two polls (and between two tries of reading a loop's final objects).
    public var maxPollInterval: Duration = .seconds(5)
    /// Retrieves failing in a row before the loop is given up (`lost_run`).
    public var maxRetrieveFailures = 20
    /// How long past a loop's `expires_at` (or of polling, when it has none) a loop that is still working is given
    /// up on (`lost_run`).
    public var pollPastExpiry: Duration = .seconds(600)
    /// Resumed streams in a row that bring no event before the loop is polled instead.
    public var maxFruitlessResumes = 3
    /// Submits of one round failing in a row (with an error that is not passing) before the loop ends
    /// (`submit_refused`).
    public var maxSubmitFailures = 3
    /// How often a round waiting for approvals reads the journal for a decision.
    public var approvalPollInterval: Duration = .milliseconds(500)
    /// Tool time-outs and approval waits end this long before the loop's `expires_at`.
    public var expiryMargin: Duration = .seconds(5)
    /// Tries of reading an ended loop's final objects before the audit is noted incomplete.
    public var finalObjectsAttempts = 6

    public init(maxStartRetries: Int, backoff: @escaping @Sendable (_ attempt: Int) -> Duration) {
        self.maxStartRetries = maxStartRetries
        self.backoff = backoff
    }

    /// The schedule of `backend` (its client's retries) with the other numbers from `template`.
    public func adopting(_ backend: any ToolLoopBackend) -> RetrySchedule {
        var schedule = self
        schedule.maxStartRetries = backend.maxStartRetries
        schedule.backoff = { backend.retryDelay(attempt: $0) }
        return schedule
    }

    /// The next poll interval after `interval`: doubled, at most ``maxPollInterval``.
    func growing(_ interval: Duration) -> Duration { min(interval * 2, maxPollInterval) }
}
