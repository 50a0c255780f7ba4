import WireFormat

/// The SQL a journal database speaks where SQLite and PostgreSQL differ.
public enum SQLDialect: String, Sendable {
    case sqlite
    case postgres

    /// An expression for the database's own clock in Unix milliseconds (leases use one clock for the whole
    /// fleet, never the hosts' clocks).
    public var nowMilliseconds: String {
        switch self {
        case .sqlite: "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
        case .postgres: "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
        }
    }

    /// The row-locking clause of a queue claim: rows another transaction holds are skipped, not waited for.
    /// SQLite has one writer at a time and needs none.
    public var skipLocked: String {
        switch self {
        case .sqlite: ""
        case .postgres: " FOR UPDATE SKIP LOCKED"
        }
    }

    /// A condition that `column` is one of the integers in the parameter bound at its `?`, given as text by
    /// ``integerList(_:)`` (one parameter however many values: no SQL is built from the list).
    public func column(_ column: String, inIntegerList placeholder: String = "?") -> String {
        switch self {
        case .sqlite: "\(column) IN (SELECT value FROM json_each(\(placeholder)))"
        case .postgres: "\(column) = ANY(CAST(\(placeholder) AS bigint[]))"
        }
    }

    /// The parameter for ``column(_:inIntegerList:)``.
    public func integerList<S: Sequence<Int64>>(_ values: S) -> SQLValue {
        let items = values.map(String.init).joined(separator: ",")
        switch self {
        case .sqlite: return .text("[\(items)]")
        case .postgres: return .text("{\(items)}")
        }
    }

    /// An expression for the text at `path` (object keys and array indexes) inside the JSON text `column`.
    public func jsonText(_ column: String, _ path: [String]) -> String {
        switch self {
        case .sqlite:
            let jsonPath = path.reduce("$") { path, part in Int(part) != nil ? "\(path)[\(part)]" : "\(path).\(part)" }
            return "json_extract(\(column), '\(jsonPath)')"
        case .postgres:
            return "(\(column)::jsonb #>> '{\(path.joined(separator: ","))}')"
        }
    }
}

/// One connection to a journal database, SQLite or PostgreSQL: statements with `?` placeholders, rows of
/// ``SQLValue``s.
///
/// Not `Sendable`: a connection belongs to the one thread of the ``JournalWorker`` that opened it.
public protocol JournalConnection: AnyObject {
    var dialect: SQLDialect { get }
    /// Where the database is: a file path, or a URL without its password.
    var location: String { get }
    /// Runs SQL text with no parameters, possibly several statements.
    func executeScript(_ sql: String) throws
    /// Runs one statement with `?` placeholders bound to `parameters` and returns its rows.
    @discardableResult
    func query(_ sql: String, _ parameters: [SQLValue]) throws -> [SQLRow]
    /// Rows changed by the last statement.
    var changes: Int { get }
    /// Whether a transaction is open (also one that failed and waits for its rollback).
    var isInTransaction: Bool { get }
    /// Opens the write transaction of a group commit.
    func beginWrite() throws
    /// Inserts rows of the same columns, in as few statements as the database does best with.
    func insertRows(into table: String, columns: [String], rows: [[SQLValue]]) throws
}

extension JournalConnection {
    /// Runs one statement for its effect.
    public func execute(_ sql: String, _ parameters: [SQLValue] = []) throws {
        try query(sql, parameters)
    }

    /// Runs one statement without parameters and returns its rows.
    @discardableResult
    public func query(_ sql: String) throws -> [SQLRow] {
        try query(sql, [])
    }

    /// The first column of the first row (`.null` when there is none).
    public func scalar(_ sql: String, _ parameters: [SQLValue] = []) throws -> SQLValue {
        try query(sql, parameters).first?.values.first ?? .null
    }

    /// Runs `body` in a write transaction: committed if it returns, rolled back if it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try beginWrite()
        do {
            let result = try body()
            try executeScript("COMMIT")
            return result
        } catch {
            try? executeScript("ROLLBACK")
            throw error
        }
    }
}

/// How a store opens its connections: where the database is, and how to open (and, for the writer, migrate) it.
public protocol JournalConnector: Sendable {
    var dialect: SQLDialect { get }
    /// A file path, or a URL without its password (for messages and logs).
    var location: String { get }
    /// Opens the connection that writes, after checking the database is ToolWorker's and migrating it.
    func openWriter() throws -> any JournalConnection
    /// Opens a connection that only reads.
    func openReader() throws -> any JournalConnection
}
