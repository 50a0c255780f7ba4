import WireFormat
import WorkModel
import CSQLite
import Foundation

/// The audit database: every event, snapshot, tool call, run and job, in one SQLite file or one PostgreSQL
/// database (``JournalConnector``).
///
/// One writer thread commits in groups (one transaction for whatever queued meanwhile, each piece under its own
/// savepoint); one reader thread answers queries on its own connection, so reads never wait on the writer.
/// Awaited writes return once committed (SQLite with `synchronous=FULL`, PostgreSQL's commit): what the caller
/// acts on is durable.
public final class AuditStore: Sendable {
    /// The SQLite file's path, or the PostgreSQL URL without its password.
    public let path: String
    public let dialect: SQLDialect
    /// Who holds the runs this store creates and the jobs it claims (`nil`: no leases, as for one-off commands).
    public let leaseOwner: LeaseOwner?
    let writer: JournalWorker
    let reader: JournalWorker

    /// Opens (creating and migrating when needed) the SQLite database at `path`.
    /// - Throws: ``StoreCompatibilityError`` for a file that is not ToolWorker's or is from a newer version,
    ///   ``SQLiteError`` when it cannot be opened or written.
    /// - Parameter durability: ``SQLiteDurability/full`` (the default: every awaited write survives a power loss).
    public convenience init(
        path: String, busyTimeout: Duration = .seconds(5), leaseOwner: LeaseOwner? = nil, durability: SQLiteDurability = .full
    ) throws {
        try AuditStore.checkLibraryVersion()
        try AuditStore.createFileIfMissing(path)
        try self.init(connector: SQLiteConnector(path: path, busyTimeout: busyTimeout, durability: durability), leaseOwner: leaseOwner)
    }

    /// Opens the database `connector` reaches, migrating it when needed.
    public init(connector: any JournalConnector, leaseOwner: LeaseOwner? = nil) throws {
        path = connector.location
        dialect = connector.dialect
        self.leaseOwner = leaseOwner
        writer = try JournalWorker(name: "toolworker-store-writer", groupCommit: true) { try connector.openWriter() }
        do {
            reader = try JournalWorker(name: "toolworker-store-reader", groupCommit: false) { try connector.openReader() }
        } catch {
            writer.close()
            throw error
        }
    }

    /// Whether several daemons may share this journal (PostgreSQL): runs are then held by leases, and a run whose
    /// lease expired is taken over by another daemon.
    public var isShared: Bool { dialect == .postgres }

    /// Bytes on disk: the database file and its write-ahead log (SQLite), or the database's size (PostgreSQL).
    public func databaseSize() async -> Int {
        switch dialect {
        case .sqlite: return AuditStore.fileSize(path: path)
        case .postgres:
            return Int((try? await read { db in try db.scalar("SELECT pg_database_size(current_database())").int }) ?? nil ?? 0)
        }
    }

    /// Bytes on disk of the database at `path` and its write-ahead log (also after it was closed).
    public static func fileSize(path: String) -> Int {
        [path, path + "-wal"].reduce(0) { total, file in
            total + ((try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0)
        }
    }

    /// Finishes queued writes and closes both connections.
    public func close() {
        writer.close()
        reader.close()
    }

    /// A store dropped without ``close()`` still commits what was queued, and releases its threads and connections.
    deinit {
        close()
    }

    /// Runs `body` in the next group commit and returns once it is durable.
    public func write<T: Sendable>(_ body: @escaping @Sendable (any JournalConnection) throws -> T) async throws -> T {
        try await writer.perform(body)
    }

    /// Queues `body` for the next group commit without waiting. Order is kept; a failure is thrown by the next
    /// awaited ``write(_:)`` or ``flush()``.
    /// - Parameter weight: the rows it writes (for the bound ``waitForRoom()`` keeps).
    public func enqueue(weight: Int = 1, _ body: @escaping @Sendable (any JournalConnection) throws -> Void) {
        writer.enqueue(weight: weight, body)
    }

    /// Waits until everything queued so far is durable; throws the first failure of un-awaited writes.
    public func flush() async throws {
        if let error = writer.takeStickyError() { throw error }
        try await writer.barrier()
        if let error = writer.takeStickyError() { throw error }
    }

    /// Returns at once unless the writer has fallen far behind (over 8,192 rows queued), then once it has
    /// caught up: callers that record a stream wait here, so a database slower than the streams slows the streams
    /// down instead of holding their events in memory.
    public func waitForRoom() async {
        await writer.waitForRoom()
    }

    /// Throws the first failure of un-awaited writes, without waiting for anything. After any awaited write has
    /// returned, every write queued before it has been tried, so this is then complete.
    public func throwIfEnqueuedWritesFailed() throws {
        if let error = writer.takeStickyError() { throw error }
    }

    /// Runs a query on the reader connection.
    public func read<T: Sendable>(_ body: @escaping @Sendable (any JournalConnection) throws -> T) async throws -> T {
        try await reader.perform(body)
    }

    // MARK: Opening SQLite

    /// Opens SQLite files: the writer in WAL mode with `synchronous=FULL`, migrated; the reader read-only.
    struct SQLiteConnector: JournalConnector {
        let path: String
        let busyTimeout: Duration
        var durability: SQLiteDurability = .full
        var dialect: SQLDialect { .sqlite }
        var location: String { path }

        func openWriter() throws -> any JournalConnection {
            let connection = try SQLiteConnection(path: path, busyTimeout: busyTimeout)
            try AuditStore.prepareWriter(connection, durability: durability)
            // Checkpoints off the commit path; without a second connection, SQLite's automatic one stays.
            if let checkpointer = try? WALCheckpointer(path: path, busyTimeout: busyTimeout) {
                try checkpointer.attach(to: connection)
            }
            return connection
        }

        func openReader() throws -> any JournalConnection {
            let connection = try SQLiteConnection(path: path, readOnly: true, busyTimeout: busyTimeout)
            try connection.executeScript("PRAGMA foreign_keys=ON; PRAGMA query_only=ON;")
            return connection
        }
    }

    static func prepareWriter(_ connection: SQLiteConnection, durability: SQLiteDurability = .full) throws {
        // SQLite falls back to a read-only open when the file cannot be written (permissions, an immutable file,
        // a read-only mount): refuse now rather than at the first write of a run.
        if sqlite3_db_readonly(connection.handle, "main") == 1 {
            throw SQLiteError(
                code: SQLITE_READONLY, message: "attempt to write a readonly database: the file is not writable by this user",
                context: "opening \(connection.path) for writing")
        }
        // Nothing may change a file that is not ours or is from a newer version: check before the first pragma
        // that writes (auto-vacuum, the WAL switch).
        _ = try retryingBusy { try checkCompatibility(connection) }
        try retryingBusy {
            // A brand-new file: incremental auto-vacuum must be chosen before the first table.
            if try connection.scalar("SELECT count(*) FROM sqlite_schema").int == 0 {
                try connection.executeScript("PRAGMA auto_vacuum=INCREMENTAL")
            }
        }
        // Two processes opening a new file at once can see "database is locked" from the WAL switch without the
        // busy handler being consulted: retry it (and the first migration) with a short backoff.
        let mode = try retryingBusy { try connection.scalar("PRAGMA journal_mode=WAL").text }
        guard mode?.lowercased() == "wal" else {
            throw SQLiteError(code: SQLITE_ERROR, message: "journal_mode is \(mode ?? "?"), expected wal", context: "opening \(connection.path)")
        }
        try connection.executeScript(
            "PRAGMA synchronous=\(durability.rawValue); PRAGMA foreign_keys=ON; PRAGMA journal_size_limit=67108864; PRAGMA temp_store=MEMORY;")
        _ = tw_sqlite_persist_wal(connection.handle)
        try retryingBusy { try migrate(connection) }
    }

    /// The oldest SQLite the schema works with: STRICT tables need 3.37.
    public static let minimumSQLiteVersion = 3_037_000

    /// The loaded SQLite's version text.
    public static var sqliteVersion: String { String(cString: sqlite3_libversion()) }

    /// Refuses a SQLite older than ``minimumSQLiteVersion`` with a clear error, before any file is touched.
    public static func checkLibraryVersion() throws {
        guard sqlite3_libversion_number() >= Int32(minimumSQLiteVersion) else {
            throw SQLiteError(
                code: SQLITE_ERROR, message: "SQLite \(sqliteVersion) is too old: ToolWorker's schema (STRICT tables) needs 3.37 or newer",
                context: "checking the SQLite library")
        }
    }

    /// Refuses a file that is not a ToolWorker database (another application's, or a non-empty file without our
    /// `application_id`) or whose schema version this build does not know (newer, or negative). Reads only.
    /// - Returns: the file's schema version (0 for a new, empty file).
    @discardableResult
    static func checkCompatibility(_ connection: SQLiteConnection) throws -> Int {
        let applicationID = Int32(truncatingIfNeeded: try connection.scalar("PRAGMA application_id").int ?? 0)
        let version = try connection.scalar("PRAGMA user_version").int ?? 0
        let tables = try connection.scalar("SELECT count(*) FROM sqlite_schema").int ?? 0
        if applicationID != Schema.applicationID && !(applicationID == 0 && tables == 0) {
            throw StoreCompatibilityError(
                path: connection.path,
                reason: "not a ToolWorker database (application_id \(applicationID), \(tables) schema objects)")
        }
        return try StoreCompatibilityError.checkVersion(version, known: Schema.version, path: connection.path)
    }

    /// Opens the history read-only after the same compatibility check (operators need no write access).
    public static func openHistory(path: String) throws -> SQLiteConnection {
        let connection = try SQLiteConnection(path: path, readOnly: true)
        try checkCompatibility(connection)
        return connection
    }

    /// Creates a missing database file with mode 0640 (owner writes, the `toolworker` group reads), whatever the
    /// umask: SQLite gives the `-wal` and `-shm` files the database's mode. The folder must exist.
    static func createFileIfMissing(_ path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        if fd >= 0 {
            fchmod(fd, 0o640)
            Glibc.close(fd)
            return
        }
        let failure = errno
        if failure == EEXIST { return }
        throw SQLiteError(
            code: SQLITE_CANTOPEN, message: String(cString: strerror(failure)), context: "creating the database file \(path)")
    }

    static func migrate(_ connection: SQLiteConnection) throws {
        try connection.transaction {
            let version = try checkCompatibility(connection)
            let applicationID = Int32(truncatingIfNeeded: try connection.scalar("PRAGMA application_id").int ?? 0)
            for index in version..<Schema.version {
                try connection.executeScript(Schema.migrations[index])
                if Schema.editsTableDefinitions.contains(index + 1) { try Schema.finishEditingTableDefinitions(connection) }
                try connection.executeScript("PRAGMA user_version=\(index + 1)")
            }
            if applicationID == 0 { try connection.executeScript("PRAGMA application_id=\(Schema.applicationID)") }
        }
    }

    static func retryingBusy<T>(_ body: () throws -> T) throws -> T {
        var delay: UInt32 = 5_000
        for _ in 0..<40 {
            do {
                return try body()
            } catch let error as SQLiteError where error.isBusy {
                usleep(delay)
                delay = min(delay * 2, 200_000)
            }
        }
        return try body()
    }
}

/// When a SQLite commit is on disk (`PRAGMA synchronous` of the writer, in WAL mode).
public enum SQLiteDurability: String, Sendable {
    /// Every commit is `fsync`ed before an awaited write returns: it survives a crash of the process and of the
    /// machine. What the daemon uses.
    case full = "FULL"
    /// Commits reach the operating system, not the disk: they survive the process's crash (SIGKILL) but a power
    /// loss may take the last ones back. No `fsync` per commit. For measuring what durability costs.
    case normal = "NORMAL"
}
