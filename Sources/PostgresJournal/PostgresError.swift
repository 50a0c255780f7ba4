import Journal

/// An error from PostgreSQL or libpq: the SQLSTATE when the server sent one, the primary message (never the
/// detail, which can quote row values) and what was being done.
public struct PostgresError: Error, Sendable, Equatable, CustomStringConvertible, JournalConstraintError {
    /// The five-character SQLSTATE (`23505` unique violation, `57P01` admin shutdown, …); `nil` for a connection
    /// failure libpq reports on its own.
    public let sqlState: String?
    public let message: String
    /// The statement or operation, without bound values (they may hold handler output or arguments).
    public let context: String

    public init(sqlState: String?, message: String, context: String) {
        self.sqlState = sqlState
        self.message = message
        self.context = context
    }

    public var isUniqueViolation: Bool { sqlState == "23505" }

    /// A server that could not be reached (down, restarting, refusing connections), as opposed to one that answered
    /// and refused us (authentication, a missing database): worth trying again shortly.
    public var isUnreachable: Bool {
        guard sqlState == nil, context.hasPrefix("connecting") else { return sqlState == "57P03" }  // cannot_connect_now
        let text = message.lowercased()
        return !["authentication", "password", "does not exist", "permission denied", "ssl"].contains { text.contains($0) }
    }

    public var description: String {
        "PostgreSQL error\(sqlState.map { " \($0)" } ?? ""): \(message) — while \(context)"
    }
}
