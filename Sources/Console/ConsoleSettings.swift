import Journal
import WorkModel

/// How the console is reached and who may use it.
public struct ConsoleSettings: Sendable {
    /// Who may sign in: each token with the identity its decisions are journaled under (`console:NAME`).
    public var tokens: [(identity: String, token: String)]
    /// The path the console is served under (`/toolworker` behind a reverse proxy; empty at the root).
    public var prefix: String
    /// Each registered tool's limits in words (`timeout 30s, output 64 KiB, memory 256M`), shown beside its calls.
    public var toolLimits: [String: String] = [:]

    public init(tokens: [(identity: String, token: String)], prefix: String) {
        self.tokens = tokens
        self.prefix = prefix
    }
}

/// What the console reads and writes: a read-only history (pages) and the journal's decisions (approvals), the
/// same on SQLite and PostgreSQL.
public struct ConsoleJournal: Sendable {
    /// Runs `body` against the read-only history (one query at a time).
    public let read: @Sendable (_ body: (JournalHistory) throws -> Void) throws -> Void
    /// Calls waiting for a decision.
    public let pending: @Sendable () async throws -> [ApprovalRecord]
    /// Journals a decision exactly as `toolworker approve`/`deny` does; `false` when the call was decided already.
    public let decide: @Sendable (_ runKey: Int64, _ callID: String, _ decision: ApprovalDecision, _ by: String, _ reason: String?) async throws -> Bool

    public init(
        read: @escaping @Sendable (_ body: (JournalHistory) throws -> Void) throws -> Void,
        pending: @escaping @Sendable () async throws -> [ApprovalRecord],
        decide: @escaping @Sendable (Int64, String, ApprovalDecision, String, String?) async throws -> Bool
    ) {
        self.read = read
        self.pending = pending
        self.decide = decide
    }

    /// A value read from the history.
    func query<T>(_ body: (JournalHistory) throws -> T) throws -> T {
        var result: T?
        try read { result = try body($0) }
        return result!
    }
}
