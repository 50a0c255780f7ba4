import Journal

/// Opens the journal's connections to one PostgreSQL database: the writer checks and migrates the schema, readers
/// are read-only sessions.
public struct PostgresConnector: JournalConnector {
    public let url: String
    /// A file whose first line is the password (else libpq's `PGPASSFILE`, `~/.pgpass`).
    public let passwordFile: String?

    public init(url: String, passwordFile: String? = nil) {
        self.url = url
        self.passwordFile = passwordFile
    }

    public var dialect: SQLDialect { .postgres }
    public var location: String { PostgresURL.masked(url) }

    public func openWriter() throws -> any JournalConnection {
        let connection = try PostgresConnection(url: url, passwordFile: passwordFile)
        try PostgresSchema.migrate(connection)
        return connection
    }

    public func openReader() throws -> any JournalConnection {
        let connection = try PostgresConnection(url: url, passwordFile: passwordFile, readOnly: true)
        try PostgresSchema.checkCompatibility(connection)
        return connection
    }

    /// A read-only connection after the compatibility check, without migrating (for commands that only read).
    public func openHistory() throws -> PostgresConnection {
        let connection = try PostgresConnection(url: url, passwordFile: passwordFile, readOnly: true)
        let version = try PostgresSchema.checkCompatibility(connection)
        if version == 0 {
            throw StoreCompatibilityError(path: location, reason: "no ToolWorker journal here yet (run `toolworker migrate` or start the daemon)")
        }
        return connection
    }
}
