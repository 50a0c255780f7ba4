import WireFormat
import WorkModel
import CSQLite
import Foundation

/// One SQLite connection with a cache of prepared statements.
///
/// Not `Sendable`: a connection belongs to the one thread of the ``JournalWorker`` that opened it.
public final class SQLiteConnection: JournalConnection {
    let handle: OpaquePointer
    public let path: String
    private var statements: [String: OpaquePointer] = [:]
    /// The writer's checkpointer (``WALCheckpointer/attach(to:)``), stopped before this connection closes.
    var checkpointer: WALCheckpointer?

    /// Opens (creating when `readOnly` is false) the database at `path`.
    /// - Parameter busyTimeout: how long to wait on another connection's lock before `SQLITE_BUSY`.
    public init(path: String, readOnly: Bool = false, busyTimeout: Duration = .seconds(5)) throws {
        self.path = path
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE))
            | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        let status = sqlite3_open_v2(path, &db, flags, nil)
        guard status == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: status, message: message, context: "opening \(path)")
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, Int32(busyTimeout.milliseconds))
        tw_sqlite_disable_dqs(db)
    }

    deinit {
        if let checkpointer {
            sqlite3_wal_hook(handle, nil, nil)
            checkpointer.stop()
        }
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close_v2(handle)
    }

    private func error(_ code: Int32, _ context: String) -> SQLiteError {
        SQLiteError(code: sqlite3_extended_errcode(handle), message: String(cString: sqlite3_errmsg(handle)), context: context)
    }

    /// Runs SQL text with no parameters, possibly several statements (migrations, pragmas).
    public func executeScript(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(handle, sql, nil, nil, &message)
        if status != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? "unknown error"
            sqlite3_free(message)
            throw SQLiteError(code: sqlite3_extended_errcode(handle), message: text, context: "executing \(sql.prefix(80))")
        }
    }

    public var dialect: SQLDialect { .sqlite }
    public var location: String { path }

    /// Runs one statement with parameters and returns its rows.
    @discardableResult
    public func query(_ sql: String, _ parameters: [SQLValue]) throws -> [SQLRow] {
        let statement = try prepared(sql)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        try bind(parameters, to: statement, sql: sql)
        var rows: [SQLRow] = []
        let columnCount = sqlite3_column_count(statement)
        let columns = (0..<columnCount).map { String(cString: sqlite3_column_name(statement, $0)) }
        while true {
            let status = sqlite3_step(statement)
            if status == SQLITE_DONE { break }
            guard status == SQLITE_ROW else { throw error(status, "running \(sql.prefix(120))") }
            rows.append(SQLRow(columns: columns, values: (0..<columnCount).map { column(statement, $0) }))
        }
        return rows
    }

    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }
    /// `true` when no transaction is open (also after SQLite rolled one back on its own).
    public var isAutocommit: Bool { sqlite3_get_autocommit(handle) != 0 }
    public var changes: Int { Int(sqlite3_changes(handle)) }

    public var isInTransaction: Bool { !isAutocommit }

    /// `BEGIN IMMEDIATE`: the write lock is taken now, so a busy database waits here (busy_timeout), not mid-way.
    public func beginWrite() throws {
        try executeScript("BEGIN IMMEDIATE")
    }

    /// One cached statement per row: SQLite's inserts are in-process calls, so a multi-row statement gains nothing.
    public func insertRows(into table: String, columns: [String], rows: [[SQLValue]]) throws {
        guard !rows.isEmpty else { return }
        let sql = "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES (\(Array(repeating: "?", count: columns.count).joined(separator: ", ")))"
        for row in rows { try query(sql, row) }
    }

    private func prepared(_ sql: String) throws -> OpaquePointer {
        if let statement = statements[sql] { return statement }
        var statement: OpaquePointer?
        let status = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard status == SQLITE_OK, let statement else { throw error(status, "preparing \(sql.prefix(120))") }
        statements[sql] = statement
        return statement
    }

    private func bind(_ parameters: [SQLValue], to statement: OpaquePointer, sql: String) throws {
        for (offset, value) in parameters.enumerated() {
            let index = Int32(offset + 1)
            let status: Int32
            switch value {
            case .null: status = sqlite3_bind_null(statement, index)
            case .integer(let i): status = sqlite3_bind_int64(statement, index, i)
            case .real(let d): status = sqlite3_bind_double(statement, index, d)
            case .text(let s): status = SQLiteConnection.bindText(s, statement, index)
            case .blob(let bytes):
                status = bytes.withUnsafeBytes { sqlite3_bind_blob64(statement, index, $0.baseAddress, sqlite3_uint64($0.count), tw_sqlite_transient()) }
            }
            guard status == SQLITE_OK else { throw error(status, "binding parameter \(index) of \(sql.prefix(80))") }
        }
    }

    /// Binds text with its byte length, so a NUL inside it is stored rather than ending it.
    private static func bindText(_ text: String, _ statement: OpaquePointer, _ index: Int32) -> Int32 {
        var text = text
        return text.withUTF8 { bytes in
            guard let base = bytes.baseAddress, bytes.count > 0 else {
                return sqlite3_bind_text(statement, index, "", 0, tw_sqlite_transient())
            }
            return base.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
                sqlite3_bind_text64(statement, index, $0, sqlite3_uint64(bytes.count), tw_sqlite_transient(), UInt8(SQLITE_UTF8))
            }
        }
    }

    private func column(_ statement: OpaquePointer, _ index: Int32) -> SQLValue {
        switch sqlite3_column_type(statement, index) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(statement, index))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(statement, index))
        case SQLITE_TEXT:
            // By byte count, not up to the first NUL: the audit keeps text exactly as it was received.
            let count = Int(sqlite3_column_bytes(statement, index))
            guard count > 0, let pointer = sqlite3_column_text(statement, index) else { return .text("") }
            return .text(String(decoding: UnsafeRawBufferPointer(start: pointer, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(statement, index))
            guard count > 0, let pointer = sqlite3_column_blob(statement, index) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: pointer, count: count)))
        default: return .null
        }
    }
}
