import CSQLite
import Dispatch
import Foundation
import Synchronization

/// Checkpoints a SQLite journal's write-ahead log on a thread and connection of its own, so the copy into the
/// database file and its `fsync` never run inside a commit that a round waits for.
///
/// SQLite's automatic checkpoint runs in the committing connection, after the commit, once the log passes 1,000
/// pages: the commit that crosses the line pays for the copy (milliseconds, the p99 of a round's dispatch). The
/// writer turns it off and tells this checkpointer instead, from its WAL hook; a `PASSIVE` checkpoint never blocks
/// the writer or readers (what a reader still needs stays in the log for the next one).
final class WALCheckpointer: Sendable {
    /// Log pages after which a checkpoint is asked for (SQLite's own default).
    static let pages: Int32 = 1000

    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let stopping = Atomic<Bool>(false)
    private let requested = Atomic<Bool>(false)

    /// Opens its own connection to `path` on its thread; throws when that fails (the writer then keeps SQLite's
    /// automatic checkpoint).
    init(path: String, busyTimeout: Duration) throws {
        let opened = Mutex<Result<Void, any Error>?>(nil)
        let ready = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in
            var connection: SQLiteConnection?
            do {
                connection = try SQLiteConnection(path: path, busyTimeout: busyTimeout)
                opened.withLock { $0 = .success(()) }
            } catch {
                opened.withLock { $0 = .failure(error) }
            }
            ready.signal()
            while let open = connection {
                wake.wait()
                if stopping.load(ordering: .acquiring) { break }
                requested.store(false, ordering: .releasing)
                // Busy (another checkpoint, a `wal_checkpoint(TRUNCATE)` of prune) or failing: the next request
                // tries again; the log only grows meanwhile.
                _ = try? open.executeScript("PRAGMA wal_checkpoint(PASSIVE)")
            }
            // Closed before stop() returns: a store that is gone holds no descriptor of the file.
            connection = nil
            finished.signal()
        }
        thread.name = "toolworker-wal-checkpoint"
        thread.start()
        ready.wait()
        try opened.withLock { $0! }.get()
    }

    /// Asks for a checkpoint (coalesced: one pending request at most). Called from the writer's WAL hook.
    func request() {
        guard !requested.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wake.signal()
    }

    /// Stops the thread and closes its connection; returns once closed.
    func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wake.signal()
        finished.wait()
    }

    /// Turns `writer`'s automatic checkpoint off and has its commits ask this checkpointer instead.
    func attach(to writer: SQLiteConnection) throws {
        try writer.executeScript("PRAGMA wal_autocheckpoint=0")
        sqlite3_wal_hook(writer.handle, { context, _, _, pages in
            if pages >= WALCheckpointer.pages, let context {
                Unmanaged<WALCheckpointer>.fromOpaque(context).takeUnretainedValue().request()
            }
            return SQLITE_OK
        }, Unmanaged.passUnretained(self).toOpaque())
        writer.checkpointer = self
    }
}
