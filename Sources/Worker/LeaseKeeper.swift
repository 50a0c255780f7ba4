import Journal
import Synchronization

/// The runs this process drives and their leases in the journal.
///
/// Every heartbeat extends the leases of the runs (and claimed jobs) it holds. A run whose lease another daemon
/// took over (this process stalled, or lost the database, for longer than the lease) is marked lost: its stream is
/// aborted and its driver stops at the next step without submitting, so two daemons never drive one run.
public final class LeaseKeeper: Sendable {
    public let owner: LeaseOwner
    public let heartbeat: Duration

    private struct Entry {
        var lost = false
        var abort: (@Sendable () -> Void)?
    }

    private let runs = Mutex<[Int64: Entry]>([:])
    /// Jobs claimed and being driven here (their leases are renewed with the runs').
    private let jobs = Mutex<Set<Int64>>([])

    public init(owner: LeaseOwner, heartbeat: Duration) {
        self.owner = owner
        self.heartbeat = heartbeat
    }

    /// Starts tracking a run this process now holds (created or taken over with its lease).
    public func register(_ runKey: Int64) {
        runs.withLock { $0[runKey] = Entry() }
    }

    /// Stops tracking a run (its drive ended).
    public func unregister(_ runKey: Int64) {
        _ = runs.withLock { $0.removeValue(forKey: runKey) }
    }

    /// Starts tracking a job this process claimed or took over.
    public func registerJob(_ id: Int64) {
        _ = jobs.withLock { $0.insert(id) }
    }

    /// Stops tracking a job (its drive ended, whatever the outcome).
    public func unregisterJob(_ id: Int64) {
        _ = jobs.withLock { $0.remove(id) }
    }

    /// Whether this process is driving the run now.
    public func isDriving(_ runKey: Int64) -> Bool {
        runs.withLock { $0[runKey] != nil }
    }

    /// Whether this process is driving the job now.
    public func isDrivingJob(_ id: Int64) -> Bool {
        jobs.withLock { $0.contains(id) }
    }

    /// Whether another daemon took the run over.
    public func isLost(_ runKey: Int64) -> Bool {
        runs.withLock { $0[runKey]?.lost ?? false }
    }

    /// What stops the run's current stream when its lease is lost (`nil` between streams).
    func setAbort(_ runKey: Int64, _ abort: (@Sendable () -> Void)?) {
        let lostAlready = runs.withLock { runs -> Bool in
            runs[runKey]?.abort = abort
            return runs[runKey]?.lost ?? false
        }
        if lostAlready { abort?() }
    }

    /// Checks (and extends) the run's lease in the journal right now; marks it lost when another daemon holds it.
    /// Called before acting on the server (a submit), so a takeover between two heartbeats is seen in time.
    /// On a private journal only the heartbeat's verdict counts.
    public func confirm(_ runKey: Int64, _ store: any RunJournal) async throws -> Bool {
        guard !isLost(runKey) else { return false }
        // A private (SQLite) journal has one daemon: nobody else can hold the lease, so no write is spent on it.
        guard store.isShared else { return true }
        if try await store.renewLease(runKey: runKey, owner) { return true }
        runs.withLock { $0[runKey]?.lost = true }
        return false
    }

    /// One heartbeat: extends the leases, then marks lost every run tracked since before it that the journal no
    /// longer shows as held, and aborts its stream. Returns the run keys lost this time.
    @discardableResult
    public func beat(_ store: AuditStore) async throws -> [Int64] {
        // Only runs registered before the renewal was queued can be judged by it (their lease row is committed).
        let tracked = runs.withLock { Set($0.keys) }
        let renewal = try await store.renewLeases(owner, runs: tracked, jobs: jobs.withLock { $0 })
        let lost = runs.withLock { runs -> [(Int64, (@Sendable () -> Void)?)] in
            var lost: [(Int64, (@Sendable () -> Void)?)] = []
            for key in tracked where !renewal.held.contains(key) {
                guard var entry = runs[key], !entry.lost else { continue }
                entry.lost = true
                runs[key] = entry
                lost.append((key, entry.abort))
            }
            return lost
        }
        for (_, abort) in lost { abort?() }
        return lost.map(\.0)
    }
}
