import WireFormat
import WorkModel
import CSQLite

/// An error from SQLite, with its extended result code, its message and what was being done.
public struct SQLiteError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The extended result code (`SQLITE_BUSY`, `SQLITE_FULL`, `SQLITE_CONSTRAINT_UNIQUE`, …).
    public let code: Int32
    public let message: String
    /// The statement or operation, without bound values (they may hold handler output or arguments).
    public let context: String

    public init(code: Int32, message: String, context: String) {
        self.code = code
        self.message = message
        self.context = context
    }

    /// The primary result code (the low byte of the extended one).
    public var primaryCode: Int32 { code & 0xFF }
    public var isBusy: Bool { primaryCode == SQLITE_BUSY || primaryCode == SQLITE_LOCKED }
    public var isFull: Bool { primaryCode == SQLITE_FULL }
    public var isReadOnly: Bool { primaryCode == SQLITE_READONLY }

    public var description: String {
        let name = String(cString: sqlite3_errstr(code))
        return "SQLite error \(code) (\(name)): \(message) — while \(context)"
    }
}

extension SQLiteError: JournalConstraintError {
    /// SQLITE_CONSTRAINT_UNIQUE and SQLITE_CONSTRAINT_PRIMARYKEY (macros Swift does not import).
    public var isUniqueViolation: Bool { code == 2067 || code == 1555 }
}

/// A database this build cannot use: not ToolWorker's, or written by a newer version.
public struct StoreCompatibilityError: Error, Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    /// Refuses a schema version this build does not know (newer than `known`, or negative), for any engine.
    /// - Returns: the version, for a database this build can use.
    public static func checkVersion(_ version: Int64, known: Int, path: String) throws -> Int {
        if version > Int64(known) {
            throw StoreCompatibilityError(
                path: path, reason: "schema version \(version) was written by a newer ToolWorker (this build knows \(known))")
        }
        if version < 0 {
            throw StoreCompatibilityError(path: path, reason: "schema version \(version) is not one ToolWorker writes")
        }
        return Int(version)
    }
}
