import WireFormat
import WorkModel
import Dispatch
import Foundation
import Synchronization

/// A thread that owns one ``JournalConnection`` and runs queued work on it, so blocking database calls (SQLite's,
/// libpq's) never run on Swift's cooperative pool.
///
/// In group-commit mode every batch of queued work runs in one transaction, each piece under its own savepoint (a
/// piece that throws is rolled back alone), and every waiter is resumed only after `COMMIT` returned: whoever
/// awaits a write knows it is durable. Work that nobody awaits (``enqueue(_:)``) keeps its order; its failure is
/// remembered and thrown by the next awaited write, so nothing fails silently.
final class JournalWorker: Sendable {
    struct Item: Sendable {
        /// The work itself; throwing rolls back this piece only.
        let body: @Sendable (any JournalConnection) throws -> Void
        /// Called once the piece's fate is known (after the batch's `COMMIT`, or with its error).
        let finish: @Sendable (Result<Void, any Error>) -> Void
        /// Runs alone, outside any transaction (checkpoints, vacuum).
        var standalone = false
        /// Runs no SQL: finished once everything queued before it is committed (``flush()``).
        var barrier = false
        /// Somebody waits for it (``perform(standalone:_:)``, ``barrier()``); ``enqueue(_:)``'s work nobody does.
        var awaited = true
        /// How much it weighs in the queue's bound (rows it writes; at least 1).
        var weight = 1
    }

    private let queue = Mutex<[Item]>([])
    private let signal = DispatchSemaphore(value: 0)
    private let stopped = Atomic<Bool>(false)
    /// The weight of the queued items (read without the queue's lock by ``waitForRoom()``).
    private let depth = Atomic<Int>(0)
    /// Tasks waiting in ``waitForRoom()``.
    private let roomWaiters = Mutex<[CheckedContinuation<Void, Never>]>([])
    /// Past this much queued weight (rows), ``waitForRoom()`` holds its callers back.
    let maxQueued: Int
    private let stickyError = Mutex<(any Error)?>(nil)
    private let done = DispatchSemaphore(value: 0)
    /// The worker thread's `pthread_self()` (0 until it runs): ``close()`` called on it (an ``AuditStore`` whose last
    /// reference went away with a piece it ran) must not wait for itself.
    private let workerThread = Atomic<UInt>(0)
    let groupCommit: Bool
    /// Largest number of pieces committed in one transaction.
    let maxBatch: Int
    /// How long work that nobody awaits may wait for more before it is committed (``loop(_:)``).
    let commitDelay: Duration

    /// Opens the connection on the new thread (through `open`) and returns once it is open or has failed.
    init(
        name: String, groupCommit: Bool, maxBatch: Int = 4096, commitDelay: Duration = .milliseconds(2), maxQueued: Int = 8192,
        open: @escaping @Sendable () throws -> any JournalConnection
    ) throws {
        self.groupCommit = groupCommit
        self.maxBatch = maxBatch
        self.commitDelay = commitDelay
        self.maxQueued = maxQueued
        let opened = Mutex<Result<Void, any Error>?>(nil)
        let ready = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in
            workerThread.store(UInt(pthread_self()), ordering: .releasing)
            serve(open: open) { result in
                opened.withLock { $0 = result }
                ready.signal()
            }
            // After serve(_:) returned, its connection is released (closed): whoever waits in close() finds the
            // database file closed.
            done.signal()
        }
        thread.name = name
        thread.start()
        ready.wait()
        try opened.withLock { $0! }.get()
    }

    /// Opens the connection, reports how that went, and runs queued work on it until closed.
    private func serve(open: () throws -> any JournalConnection, opened: (Result<Void, any Error>) -> Void) {
        let connection: any JournalConnection
        do {
            connection = try open()
        } catch {
            opened(.failure(error))
            return
        }
        opened(.success(()))
        loop(connection)
    }

    /// Queues work and waits until it has run (and, in group-commit mode, been committed).
    /// - Parameter standalone: run it alone, outside any transaction (for `wal_checkpoint`, `VACUUM`, …).
    func perform<T: Sendable>(standalone: Bool = false, _ body: @escaping @Sendable (any JournalConnection) throws -> T) async throws -> T {
        if let error = takeStickyError() { throw error }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let box = Mutex<T?>(nil)
            let item = Item(
                body: { connection in
                    let value = try body(connection)
                    box.withLock { $0 = value }
                },
                finish: { result in
                    switch result {
                    case .success: continuation.resume(returning: box.withLock { $0! })
                    case .failure(let error): continuation.resume(throwing: error)
                    }
                },
                standalone: standalone)
            if !submit(item) {
                continuation.resume(throwing: SQLiteError(code: 21, message: "the store is closed", context: "queueing work"))
            }
        }
    }

    /// Runs work in the next group commit and returns once it has *run*, before its commit: the transaction stays open
    /// for what comes next (a round's outcomes), which commits it with one `fsync`. For work a crash may lose (the
    /// caller accepts redoing it); if its commit fails, the next awaited write throws the error.
    func performUncommitted<T: Sendable>(_ body: @escaping @Sendable (any JournalConnection) throws -> T) async throws -> T {
        if let error = takeStickyError() { throw error }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let answered = Atomic<Bool>(false)
            var item = Item(
                body: { connection in
                    // A piece may run again (the transaction replayed under savepoints): its waiter hears once.
                    let value = try body(connection)
                    if !answered.exchange(true, ordering: .acquiringAndReleasing) { continuation.resume(returning: value) }
                },
                finish: { [self] result in
                    guard case .failure(let error) = result else { return }
                    if !answered.exchange(true, ordering: .acquiringAndReleasing) {
                        continuation.resume(throwing: error)
                    } else {
                        stickyError.withLock { if $0 == nil { $0 = error } }
                    }
                })
            item.awaited = false
            if !submit(item), !answered.exchange(true, ordering: .acquiringAndReleasing) {
                continuation.resume(throwing: SQLiteError(code: 21, message: "the store is closed", context: "queueing work"))
            }
        }
    }

    /// Waits until everything queued before it has been committed (or failed), without a transaction of its own.
    /// - Throws: when the worker is closed.
    func barrier() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let item = Item(body: { _ in }, finish: { _ in continuation.resume() }, barrier: true)
            if !submit(item) {
                continuation.resume(throwing: SQLiteError(code: 21, message: "the store is closed", context: "waiting for queued writes"))
            }
        }
    }

    /// Queues work without waiting; a failure is thrown by the next ``perform(_:)``.
    /// - Parameter weight: the rows it writes, for the queue's bound (``waitForRoom()``).
    func enqueue(weight: Int = 1, _ body: @escaping @Sendable (any JournalConnection) throws -> Void) {
        var item = Item(body: body) { [self] result in
            if case .failure(let error) = result { stickyError.withLock { if $0 == nil { $0 = error } } }
        }
        item.awaited = false
        item.weight = max(1, weight)
        if !submit(item) {
            stickyError.withLock { if $0 == nil { $0 = SQLiteError(code: 21, message: "the store is closed", context: "queueing work") } }
        }
    }

    /// The failure of un-awaited work, if any (cleared by reading it).
    func takeStickyError() -> (any Error)? {
        stickyError.withLock { error in
            defer { error = nil }
            return error
        }
    }

    private func submit(_ item: Item) -> Bool {
        guard !stopped.load(ordering: .relaxed) else { return false }
        queue.withLock { items in
            items.append(item)
            depth.add(item.weight, ordering: .relaxed)
        }
        signal.signal()
        return true
    }

    /// Finishes queued work, then closes the connection. On the worker thread itself it only asks: the loop finishes
    /// the queue and closes once the current batch is done.
    func close() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        resumeRoomWaiters()
        signal.signal()
        guard workerThread.load(ordering: .acquiring) != UInt(pthread_self()) else { return }
        done.wait()
    }

    private func loop(_ connection: any JournalConnection) {
        while true {
            signal.wait()
            while true {
                let batch = takeBatch(limit: groupCommit ? maxBatch : 1)
                if batch.isEmpty { break }
                run(batch, on: connection)
            }
            if stopped.load(ordering: .relaxed) && queue.withLock({ $0.isEmpty }) { return }
        }
    }

    /// Up to `limit` queued items; a standalone item goes alone, and a batch stops before the next one.
    private func takeBatch(limit: Int) -> [Item] {
        let batch: [Item] = queue.withLock { items in
            var count = 0
            while count < items.count, count < limit {
                if items[count].standalone { count = count == 0 ? 1 : count; break }
                count += 1
            }
            defer {
                depth.subtract(Self.weight(of: items.prefix(count)), ordering: .relaxed)
                items.removeFirst(count)
            }
            return Array(items.prefix(count))
        }
        if !batch.isEmpty { resumeRoomWaiters() }
        return batch
    }

    /// The rows `items` weigh in the queue's bound.
    private static func weight(of items: some Sequence<Item>) -> Int {
        items.reduce(0) { $0 + $1.weight }
    }

    /// Returns at once while at most ``maxQueued`` rows wait; past that, once the writer has caught up. A stream
    /// that records faster than the database commits is slowed down here (and the server, through TCP), instead of
    /// its events piling up in memory.
    func waitForRoom() async {
        guard depth.load(ordering: .relaxed) > maxQueued else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = roomWaiters.withLock { waiters -> Bool in
                if depth.load(ordering: .relaxed) <= maxQueued || stopped.load(ordering: .relaxed) { return true }
                waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    private func resumeRoomWaiters() {
        let waiting = roomWaiters.withLock { waiters -> [CheckedContinuation<Void, Never>] in
            guard !waiters.isEmpty, depth.load(ordering: .relaxed) <= maxQueued || stopped.load(ordering: .relaxed) else { return [] }
            defer { waiters.removeAll() }
            return waiters
        }
        for continuation in waiting { continuation.resume() }
    }

    private func run(_ batch: [Item], on connection: any JournalConnection) {
        guard groupCommit, !(batch.count == 1 && batch[0].standalone) else {
            runWithoutTransaction(batch, on: connection)
            return
        }
        var transaction = GroupTransaction(connection: connection)
        let commitStarted = ContinuousClock.now
        defer { JournalMetrics.commit.recordNanoseconds(Int64((ContinuousClock.now - commitStarted).nanoseconds)) }
        transaction.run(batch)
        // Nobody waits for this transaction yet (a stream's events): keep it open a little for more work, running
        // each piece as it comes. A round's durable write then commits with the events before it in one `fsync`,
        // and their statements have already run by the time it arrives.
        let deadline = DispatchTime.now() + .nanoseconds(Int(commitDelay.nanoseconds))
        while commitDelay > .zero, !transaction.hasWaiters, transaction.pieceCount < maxBatch, !stopped.load(ordering: .relaxed) {
            if queue.withLock({ $0.first?.standalone ?? false }) { break }
            if queue.withLock({ $0.isEmpty }), signal.wait(timeout: deadline) == .timedOut { break }
            let more = takeBatch(limit: maxBatch - transaction.pieceCount)
            if more.contains(where: \.standalone) {
                // Raced with a standalone item: it runs on its own after this commit.
                queue.withLock { items in
                    items.insert(contentsOf: more, at: 0)
                    depth.add(Self.weight(of: more), ordering: .relaxed)
                }
                break
            }
            transaction.run(more)
        }
        transaction.commit()
    }

    /// Items run one by one in autocommit: the reader's queries, and standalone work (checkpoints, vacuum).
    private func runWithoutTransaction(_ batch: [Item], on connection: any JournalConnection) {
        for item in batch {
            if item.barrier {
                item.finish(.success(()))
                continue
            }
            do {
                try item.body(connection)
                item.finish(.success(()))
            } catch {
                item.finish(.failure(error))
            }
        }
    }
}

/// One group-commit transaction: pieces run as they are added, and every piece is finished only after `COMMIT`
/// returned (or with the error that lost it).
///
/// Pieces run optimistically, without savepoints (each costs two statements, two round trips on PostgreSQL). When
/// one fails, the transaction is rolled back and its pieces run again, each under a savepoint, so the failing piece
/// fails alone; the rest of the transaction keeps the savepoints. A piece may therefore run twice: piece bodies
/// only write to the database (and set what their waiter gets), so the rollback undoes the first run.
private struct GroupTransaction {
    let connection: any JournalConnection
    private var pieces: [JournalWorker.Item] = []
    private var results: [Result<Void, any Error>] = []
    private var barriers: [JournalWorker.Item] = []
    /// The first piece of the transaction now open (pieces before it were committed or lost with an earlier one).
    private var transactionStart = 0
    /// No piece has failed yet: run without savepoints.
    private var optimistic = true
    /// Whether someone awaits a piece or a barrier of it: then it commits without waiting for more.
    private(set) var hasWaiters = false

    init(connection: any JournalConnection) { self.connection = connection }

    var pieceCount: Int { pieces.count }

    mutating func run(_ items: [JournalWorker.Item]) {
        for item in items where item.awaited { hasWaiters = true }
        barriers += items.filter(\.barrier)
        for item in items where !item.barrier {
            pieces.append(item)
            results.append(.success(()))
            let index = pieces.count - 1
            guard optimistic else {
                runGuarded(index)
                continue
            }
            guard begin(at: index) else { continue }
            do {
                try item.body(connection)
            } catch {
                // Undo the transaction and run its pieces again, each under a savepoint, so this one fails alone.
                if connection.isInTransaction { try? connection.executeScript("ROLLBACK") }
                optimistic = false
                for replay in transactionStart...index { runGuarded(replay) }
            }
        }
    }

    /// Opens a transaction for the piece at `index` when none is open; `false` (the piece failed) when that fails.
    private mutating func begin(at index: Int) -> Bool {
        guard !connection.isInTransaction else { return true }
        do {
            try connection.beginWrite()
            transactionStart = index
            return true
        } catch {
            // Could not start (locked past busy_timeout, read-only file, full disk): the piece did not run.
            results[index] = .failure(error)
            transactionStart = index + 1
            return false
        }
    }

    /// Runs the piece at `index` under a savepoint.
    private mutating func runGuarded(_ index: Int) {
        guard begin(at: index) else { return }
        do {
            try connection.execute("SAVEPOINT piece")
            try pieces[index].body(connection)
            try connection.execute("RELEASE piece")
            results[index] = .success(())
        } catch {
            if !connection.isInTransaction {
                // The database rolled the whole transaction back (SQLite on SQLITE_FULL or an I/O error;
                // PostgreSQL when the connection broke): every piece of it is lost, not just this one.
                for lost in transactionStart..<index { results[lost] = .failure(error) }
                results[index] = .failure(error)
                transactionStart = index + 1
            } else {
                try? connection.executeScript("ROLLBACK TO piece; RELEASE piece")
                results[index] = .failure(error)
            }
        }
    }

    /// Commits what is open, then finishes every piece and barrier.
    mutating func commit() {
        if connection.isInTransaction {
            do {
                try connection.execute("COMMIT")
            } catch {
                try? connection.executeScript("ROLLBACK")
                for index in transactionStart..<results.count { results[index] = .failure(error) }
            }
        }
        for (item, result) in zip(pieces, results) { item.finish(result) }
        for item in barriers { item.finish(.success(())) }
    }
}
