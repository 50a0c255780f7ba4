import WireFormat
import WorkModel
import Foundation

/// Who holds the runs and jobs a daemon drives, and for how long a lease lasts without a heartbeat.
public struct LeaseOwner: Sendable, Equatable {
    /// Unique per process: host, pid and a random part (a restarted daemon is a new owner).
    public let id: String
    /// How long a lease lasts after its last renewal; a few heartbeats.
    public let expiry: Duration

    public init(id: String, expiry: Duration) {
        self.id = id
        self.expiry = expiry
    }

    /// An owner id for this process: `host:pid:random`.
    public static func makeID(host: String) -> String {
        "\(host):\(getpid()):\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
    }

    var expiryMilliseconds: Int64 { Int64(expiry.milliseconds) }
}

extension AuditStore {
    /// What a heartbeat found.
    public struct LeaseRenewal: Sendable, Equatable {
        /// Open runs this owner still holds (their leases were extended).
        public var held: Set<Int64>
    }

    /// Extends `owner`'s leases on the open runs and running jobs it is driving (`runs`, `jobs`), durably, and
    /// returns which of those runs it still holds: one missing was taken over by another daemon after its lease
    /// expired. A run or job this process holds but no longer drives (its drive failed on a database error) is not
    /// renewed, so its lease runs out and it is taken over and resumed rather than left open.
    public func renewLeases(_ owner: LeaseOwner, runs: Set<Int64>, jobs: Set<Int64>) async throws -> LeaseRenewal {
        try await write { db in
            let expiry = "\(db.dialect.nowMilliseconds) + ?"
            // Runs that ended meanwhile are still held (their drive is finishing): returned, not extended.
            let held = runs.isEmpty ? [] : try db.query(
                """
                UPDATE runs SET lease_expires_at = CASE WHEN ended_at IS NULL THEN \(expiry) ELSE lease_expires_at END
                WHERE lease_owner = ? AND \(db.dialect.column("id", inIntegerList: "?")) RETURNING id
                """,
                [.integer(owner.expiryMilliseconds), .text(owner.id), db.dialect.integerList(runs)])
            if !jobs.isEmpty {
                try db.execute(
                    "UPDATE jobs SET lease_expires_at = \(expiry) WHERE lease_owner = ? AND state = 'running' AND \(db.dialect.column("id", inIntegerList: "?"))",
                    [.integer(owner.expiryMilliseconds), .text(owner.id), db.dialect.integerList(jobs)])
            }
            return LeaseRenewal(held: Set(held.compactMap { $0["id"].int }))
        }
    }

    /// Extends the lease on one run if `owner` still holds it, durably; `false` when another daemon took it over.
    public func renewLease(runKey: Int64, _ owner: LeaseOwner) async throws -> Bool {
        try await write { db in
            !(try db.query(
                "UPDATE runs SET lease_expires_at = \(db.dialect.nowMilliseconds) + ? WHERE id = ? AND lease_owner = ? RETURNING id",
                [.integer(owner.expiryMilliseconds), .integer(runKey), .text(owner.id)]
            ).isEmpty)
        }
    }

    /// Takes over up to `limit` open runs whose lease expired (their daemon died or lost the database), with the
    /// jobs they belong to, durably; `all` takes every open run whatever its lease (one daemon per SQLite file,
    /// after a restart). Rows another daemon is taking at the same moment are skipped, never waited for.
    /// `onlyOwn` takes back only runs this owner held (a private journal, where another command may drive runs
    /// without a lease).
    public func takeOverRuns(_ owner: LeaseOwner, limit: Int, all: Bool = false, onlyOwn: Bool = false) async throws -> [RunRecord] {
        try await write { db in
            let now = db.dialect.nowMilliseconds
            var expired = all ? "" : " AND (lease_expires_at IS NULL OR lease_expires_at < \(now))"
            if onlyOwn { expired += " AND lease_owner = '\(owner.id.replacingOccurrences(of: "'", with: "''"))'" }
            let taken = try db.query(
                """
                UPDATE runs SET lease_owner = ?, lease_expires_at = \(now) + ?
                WHERE id IN (SELECT id FROM runs WHERE ended_at IS NULL\(expired) ORDER BY id LIMIT ?\(db.dialect.skipLocked))
                RETURNING *
                """,
                [.text(owner.id), .integer(owner.expiryMilliseconds), .integer(Int64(limit))]
            ).map(RunRecord.init).sorted { $0.key < $1.key }
            for run in taken {
                guard let job = run.jobID else { continue }
                try db.execute(
                    "UPDATE jobs SET lease_owner = ?, lease_expires_at = \(now) + ? WHERE id = ? AND state = 'running'",
                    [.text(owner.id), .integer(owner.expiryMilliseconds), .integer(job)])
            }
            return taken
        }
    }

    /// Takes over jobs marked running whose lease expired and that have no open run: their daemon stopped between
    /// claiming them and starting (or after finishing) their run. `all` takes every such job (after a restart of
    /// the one daemon of a SQLite file). Returns each with its latest run.
    public func takeOverStrandedJobs(
        _ owner: LeaseOwner, all: Bool = false, onlyOwn: Bool = false
    ) async throws -> [(job: JobRecord, lastRun: RunRecord?)] {
        try await write { db in
            let now = db.dialect.nowMilliseconds
            var expired = all ? "" : " AND (j.lease_expires_at IS NULL OR j.lease_expires_at < \(now))"
            if onlyOwn { expired += " AND j.lease_owner = '\(owner.id.replacingOccurrences(of: "'", with: "''"))'" }
            let jobs = try db.query(
                """
                UPDATE jobs SET lease_owner = ?, lease_expires_at = \(now) + ?
                WHERE id IN (
                    SELECT j.id FROM jobs j WHERE j.state = 'running'\(expired)
                      AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.job_id = j.id AND runs.ended_at IS NULL)
                    ORDER BY j.id\(db.dialect.skipLocked))
                RETURNING *
                """,
                [.text(owner.id), .integer(owner.expiryMilliseconds)]
            ).map(JobRecord.init).sorted { $0.id < $1.id }
            return try jobs.map { job in
                let run = try db.query("SELECT * FROM runs WHERE job_id = ? ORDER BY id DESC LIMIT 1", [.integer(job.id)]).first.map(RunRecord.init)
                return (job, run)
            }
        }
    }

    /// Claims the oldest due queued job, durably (see ``claimJobs(limit:excludingThreads:now:)``); `nil` when none.
    public func claimNextJob(excludingThreads busy: Set<String> = [], now: Int64 = unixMilliseconds()) async throws -> JobRecord? {
        try await claimJobs(limit: 1, excludingThreads: busy, now: now).first
    }

    /// Claims up to `limit` of the oldest due queued jobs in one durable transaction: `running`, the attempt counted,
    /// the lease taken. Leaves out jobs on threads in `busy` and on threads where a job is running or a run is open
    /// anywhere in the fleet, and takes at most one job per thread (the oldest due); jobs another daemon is claiming
    /// at the same moment are skipped. Oldest first; empty when none is due.
    public func claimJobs(limit: Int, excludingThreads busy: Set<String> = [], now: Int64 = unixMilliseconds()) async throws -> [JobRecord] {
        let owner = leaseOwner
        let threads = busy.sorted()
        // Only the number of placeholders is built into the SQL; the thread ids are bound.
        let exclusion = threads.isEmpty ? "" : " AND (j.thread_id IS NULL OR j.thread_id NOT IN (\(Array(repeating: "?", count: threads.count).joined(separator: ","))))"
        do {
            return try await write { db in
                try db.query(
                    """
                    UPDATE jobs SET state = 'running', attempts = attempts + 1, updated_at = ?, lease_owner = ?,
                        lease_expires_at = CASE WHEN CAST(? AS TEXT) IS NULL THEN NULL ELSE \(db.dialect.nowMilliseconds) + ? END
                    WHERE id IN (
                        SELECT j.id FROM jobs j
                        WHERE j.state IN ('queued', 'waiting_rate_limit') AND j.not_before <= ?\(exclusion)
                          AND (j.thread_id IS NULL OR (
                                j.id = (SELECT min(q.id) FROM jobs q WHERE q.thread_id = j.thread_id
                                        AND q.state IN ('queued', 'waiting_rate_limit') AND q.not_before <= ?)
                            AND NOT EXISTS (SELECT 1 FROM jobs k WHERE k.thread_id = j.thread_id AND k.state = 'running')
                            AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.thread_id = j.thread_id AND r.ended_at IS NULL)))
                        ORDER BY j.id LIMIT ?\(db.dialect.skipLocked))
                    RETURNING *
                    """,
                    [.integer(now), .text(owner?.id), .text(owner?.id), .integer(owner?.expiryMilliseconds), .integer(now)]
                        + threads.map { .text($0) } + [.integer(now), .integer(Int64(max(limit, 0)))]
                ).map(JobRecord.init).sorted { $0.id < $1.id }
            }
        } catch let error as any JournalConstraintError where error.isUniqueViolation {
            // Another daemon claimed a job of the same thread in the same instant: none for us this time.
            return []
        }
    }
}

/// An error that can say whether a statement broke a uniqueness constraint (SQLite's and PostgreSQL's errors both
/// can), so a race between daemons is told apart from a failure.
public protocol JournalConstraintError: Error {
    var isUniqueViolation: Bool { get }
}
