import Journal
import WireFormat
import WorkModel

/// What a loop's driver needs from the journal: its run row, the stream it records, its rounds' calls and outputs,
/// and its approvals. ``AuditStore`` is the journal (SQLite or PostgreSQL); the driver sees only this.
///
/// Awaited writes return once durable: the driver acts on the server only after what it acts on is committed.
public protocol RunJournal: Sendable {
    // MARK: The run

    /// Creates the run's row (status `queued`) and returns its key.
    func createRun(
        assistantID: String, threadID: String?, jobID: Int64?, request: JSONValue, protocolName: String, model: String?
    ) async throws -> Int64
    /// The key of the run that holds the server-side loop id `runID` (`nil` when none does).
    func runKey(holding runID: String) async throws -> Int64?
    /// Records the loop's state as retrieved from the server, durably.
    func updateRun(runKey: Int64, run: RunStateRecord) async throws
    /// Records the container (thread or conversation) the run works in.
    func setRunThread(runKey: Int64, threadID: String) async throws
    /// Records that the run moved to another provider before it started: its request (naming the provider) and model,
    /// and no container (one made on the first provider belongs there).
    func moveRun(runKey: Int64, request: JSONValue, model: String?) async throws
    /// Records the container on the job the run belongs to, so that a retry works in the same one.
    func setJobThread(id: Int64, threadID: String) async throws
    /// Ends the run with `status` (the first end stands).
    func endRun(runKey: Int64, status: OutcomeStatus, lastError: JSONValue?) async throws
    /// Whether several daemons share the journal (then runs are held by leases).
    var isShared: Bool { get }
    /// Extends the run's lease; `false` when another daemon holds it now.
    func renewLease(runKey: Int64, _ owner: LeaseOwner) async throws -> Bool

    // MARK: The stream

    /// The highest stored event sequence number of the run (0 when none).
    func lastEventSeq(runKey: Int64) async throws -> Int
    /// The highest stored stream number of the run (0 when none).
    func lastStream(runKey: Int64) async throws -> Int
    /// The latest snapshots of the run's objects, in order, for a loop resumed after a restart.
    func loopHistory(runKey: Int64) async throws -> LoopHistory
    /// Queues events, snapshots, the loop's state and its requests' usage for the next group commit (not awaited).
    func enqueueProgress(runKey: Int64, events: [EventRecord], snapshots: [SnapshotRecord], run: RunStateRecord?, usage: [UsageRecord])
    /// Waits while the queue of un-awaited writes is full.
    func waitForRoom() async
    /// Waits until everything queued is durable; throws the first failure of un-awaited writes.
    func flush() async throws
    /// Throws the first failure of un-awaited writes, without waiting.
    func throwIfEnqueuedWritesFailed() throws

    /// What the runs of `scope` have spent, from committed rows.
    func spending(runKey: Int64, scope: BudgetScope) async throws -> Spending
    /// Reserves the estimate of run `runKey`'s next request of `provider`'s budget for today, or says why not
    /// (``AuditStore/reserveDaily(provider:runKey:leastTokens:addedTokens:budget:now:)``).
    func reserveDaily(
        provider: String, runKey: Int64, leastTokens: Int64, addedTokens: Int64, budget: Budget, now: Int64
    ) async throws -> DailyBudgetVerdict

    // MARK: Rounds

    /// Records a round's calls (new ones `pending`) and, in the same transaction, which of them start now; durably,
    /// or (`durable: false`, calls that may run again after a crash) committed with what follows.
    func recordRound(
        runKey: Int64, calls: [(call: ToolCall, handler: String?)], durable: Bool,
        decide: @escaping @Sendable (_ known: [String: ToolCallRecord]) -> AuditStore.RoundDecision
    ) async throws -> (known: [String: ToolCallRecord], decision: AuditStore.RoundDecision)
    /// Records a call's outcome and output, durably, before it is submitted.
    func recordToolCallOutcome(runKey: Int64, callID: String, outcome: ToolCallOutcome) async throws
    /// Marks outputs as accepted by the server (by a submit, or seen at reconciliation).
    func markSubmitted(runKey: Int64, callIDs: [String], via evidence: AuditStore.SubmissionEvidence) async throws
    /// Every call of the run, in round order.
    func toolCalls(runKey: Int64) async throws -> [ToolCallRecord]
    /// The run's outputs recorded but not yet accepted by the server.
    func unsubmittedOutputs(runKey: Int64) async throws -> [ToolCallRecord]

    // MARK: Approvals

    /// Asks for approval of `calls` (the first request for a call stands) and returns every call's record.
    func requestApprovals(runKey: Int64, calls: [ToolCall], seals: [String: String]) async throws -> [String: ApprovalRecord]
    /// The approval records of the given calls.
    func approvals(runKey: Int64, callIDs: [String]) async throws -> [String: ApprovalRecord]
    /// Decides a waiting approval; `false` when it was decided already (the first decision stands).
    func decideApproval(runKey: Int64, callID: String, decision: ApprovalDecision, by who: String, reason: String?) async throws -> Bool
}

extension AuditStore: RunJournal {}

extension RunJournal {
    /// Queues events, snapshots and the loop's state (no usage) for the next group commit.
    public func enqueueProgress(runKey: Int64, events: [EventRecord], snapshots: [SnapshotRecord], run: RunStateRecord?) {
        enqueueProgress(runKey: runKey, events: events, snapshots: snapshots, run: run, usage: [])
    }
}

/// Takes the rate-limit cool-downs the fleet recorded in the journal (the HTTP client's limiter, seen from the
/// worker, which knows no HTTP).
public protocol RateLimitBoard: Sendable {
    func adopt(_ cooldowns: [RateLimitCooldown])
}
