import Journal

/// Copies a SQLite journal into a PostgreSQL one, keeping the history when a host moves to the shared journal.
///
/// Jobs first, then each run with its events, snapshots and tool calls in one transaction of its own. Every copied
/// job and run is recorded in `journal_imports` by its SQLite id and creation time, so running the copy again
/// copies only what is new (and a copy stopped half-way goes on where it stopped). Rows get new ids; references
/// (`runs.job_id`, the children's `run`) follow them. Open runs are copied without a lease: a daemon on the
/// PostgreSQL journal takes them over and resumes them as after a restart. Stop the SQLite daemon first.
public struct JournalCopier {
    /// What a copy did.
    public struct Report: Sendable, Equatable, CustomStringConvertible {
        public var jobs = 0
        public var runs = 0
        public var events = 0
        public var snapshots = 0
        public var toolCalls = 0
        /// Jobs and runs already copied by an earlier run of the copy.
        public var alreadyCopied = 0

        public var description: String {
            "copied \(jobs) jobs, \(runs) runs (\(events) events, \(snapshots) snapshots, \(toolCalls) tool calls); \(alreadyCopied) jobs and runs were copied before"
        }
    }

    let source: SQLiteConnection
    let target: PostgresConnection

    /// - Parameters: `source`, the SQLite journal (opened read-only after its compatibility check); `target`, the
    ///   PostgreSQL journal's writer connection (migrated).
    public init(source: SQLiteConnection, target: PostgresConnection) {
        self.source = source
        self.target = target
    }

    /// Copies everything not copied before.
    public func copy(progress: (Report) -> Void = { _ in }) throws -> Report {
        var report = Report()
        var jobIDs: [Int64: Int64] = [:]
        try target.transaction {
            // Two copies at once would both find a row uncopied: the second waits for the first.
            try target.execute("SELECT pg_advisory_xact_lock(?)", [.integer(PostgresSchema.migrationLock + 1)])
            for job in try source.query("SELECT * FROM jobs ORDER BY id") {
                let key = sourceKey(job)
                if let known = try target.scalar(
                    "SELECT target_id FROM journal_imports WHERE source_table = 'jobs' AND source_key = ?", [.text(key)]).int
                {
                    jobIDs[job["id"].int ?? 0] = known
                    report.alreadyCopied += 1
                    continue
                }
                let id = try insert(job, into: "jobs", replacing: [:])
                try record("jobs", key, id)
                jobIDs[job["id"].int ?? 0] = id
                report.jobs += 1
            }
        }
        progress(report)
        for run in try source.query("SELECT * FROM runs ORDER BY id") {
            let key = sourceKey(run)
            try target.transaction {
                try target.execute("SELECT pg_advisory_xact_lock(?)", [.integer(PostgresSchema.migrationLock + 1)])
                if try target.scalar(
                    "SELECT 1 FROM journal_imports WHERE source_table = 'runs' AND source_key = ?", [.text(key)]).int != nil
                {
                    report.alreadyCopied += 1
                    return
                }
                let sourceRun = run["id"].int ?? 0
                let jobID: SQLValue = run["job_id"].int.flatMap { jobIDs[$0] }.map(SQLValue.integer) ?? .null
                // No lease: the run belongs to no daemon of the fleet yet.
                let id = try insert(run, into: "runs", replacing: ["job_id": jobID, "lease_owner": .null, "lease_expires_at": .null])
                try record("runs", key, id)
                report.runs += 1
                report.events += try copyChildren("events", of: sourceRun, to: id, orderedBy: "seq")
                report.snapshots += try copyChildren("snapshots", of: sourceRun, to: id, orderedBy: "id")
                report.toolCalls += try copyChildren("tool_calls", of: sourceRun, to: id, orderedBy: "id")
                // A journal from before approvals (schema v7) has none to copy.
                if try source.scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'approvals'").int == 1 {
                    _ = try copyChildren("approvals", of: sourceRun, to: id, orderedBy: "id")
                }
                // Nor one from before the usage ledger (schema v10).
                if try source.scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'usage'").int == 1 {
                    _ = try copyChildren("usage", of: sourceRun, to: id, orderedBy: "id")
                }
            }
            if report.runs % 100 == 0 { progress(report) }
        }
        return report
    }

    /// A row's identity in its SQLite journal: its id and creation time (two journals giving the same pair to
    /// different rows is as good as impossible).
    private func sourceKey(_ row: SQLRow) -> String {
        "\(row["id"].int ?? 0)@\(row["created_at"].int ?? 0)"
    }

    private func record(_ table: String, _ key: String, _ id: Int64) throws {
        try target.execute(
            "INSERT INTO journal_imports (source_table, source_key, target_id, imported_at) VALUES (?, ?, ?, \(SQLDialect.postgres.nowMilliseconds))",
            [.text(table), .text(key), .integer(id)])
    }

    /// Inserts a SQLite row's columns that the PostgreSQL table has too (all but `id`), with some replaced.
    private func insert(_ row: SQLRow, into table: String, replacing: [String: SQLValue]) throws -> Int64 {
        let columns = try targetColumns(table).filter { row.columns.contains($0) || replacing[$0] != nil }
        let values = columns.map { replacing[$0] ?? row[$0] }
        let sql = "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES (\(columns.map { _ in "?" }.joined(separator: ", "))) RETURNING id"
        return try target.scalar(sql, values).int ?? 0
    }

    private func copyChildren(_ table: String, of sourceRun: Int64, to run: Int64, orderedBy order: String) throws -> Int {
        let rows = try source.query("SELECT * FROM \(table) WHERE run = ? ORDER BY \(order)", [.integer(sourceRun)])
        guard let first = rows.first else { return 0 }
        let columns = try targetColumns(table).filter { first.columns.contains($0) }
        try target.insertRows(
            into: table, columns: columns, rows: rows.map { row in columns.map { $0 == "run" ? .integer(run) : row[$0] } })
        return rows.count
    }

    /// The PostgreSQL table's columns other than `id`.
    private func targetColumns(_ table: String) throws -> [String] {
        try target.query(
            """
            SELECT column_name FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = ? AND column_name <> 'id' ORDER BY ordinal_position
            """, [.text(table)]
        ).compactMap { $0["column_name"].text }
    }
}
