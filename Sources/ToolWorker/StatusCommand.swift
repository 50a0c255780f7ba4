import ArgumentParser
import Foundation
import RunLoopCore

/// `toolworker status`: what the daemon is doing now, read from the journal (works without the metrics port).
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show what the daemon is doing now: active runs, the queue, failures in the last hour.")

    @OptionGroup var options: ConfigOption
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        try await guarded {
            let config = try options.load()
            let db = try openHistory(config)
            // A SQLite journal has at most one daemon (its lock file names it); a PostgreSQL one has a fleet,
            // known by the leases its daemons hold.
            let holders = config.usesPostgres ? try fleetLeases(db) : []
            let daemon = config.usesPostgres ? (holders.isEmpty ? nil : holders.map(\.owner).joined(separator: ", ")) : DaemonLock.holder(database: config.database)
            let active = try db.query(
                """
                SELECT r.run_id, r.status, r.duration_s AS age_s, r.rounds,
                       (SELECT count(*) FROM tool_calls t WHERE t.run = r.run_key AND t.state = 'running') AS running_handlers,
                       r.job_id
                FROM run_history r WHERE r.ended IS NULL ORDER BY r.run_key
                """)
            var queue: [String: Int64] = [:]
            for state in JobState.allCases { queue[state.rawValue] = 0 }
            for row in try db.query("SELECT state, count(*) AS n FROM jobs GROUP BY state") {
                queue[row["state"].text ?? "?"] = row["n"].int ?? 0
            }
            let oldest = try db.scalar(
                "SELECT (\(db.dialect.nowMilliseconds) - min(created_at)) / 1000.0 FROM jobs WHERE state = 'queued'").double
            let hourAgo = unixMilliseconds() - 3_600_000
            let failures = try db.query(
                """
                SELECT run_id, status, error_code, ended FROM run_history r
                WHERE r.status NOT IN ('completed', 'starting') AND r.ended IS NOT NULL
                  AND (SELECT ended_at FROM runs WHERE id = r.run_key) >= ?
                ORDER BY r.run_key DESC
                """, [.integer(hourAgo)])
            var byStatus: [String: Int] = [:]
            for row in failures { byStatus[row["status"].text ?? "?", default: 0] += 1 }

            if json {
                var daemonJSON: JSONObject = ["running": .bool(daemon != nil)]
                if config.usesPostgres {
                    daemonJSON["leases"] = .array(holders.map { .object(["owner": .string($0.owner), "runs": .int(Int64($0.runs))]) })
                } else if let daemon {
                    daemonJSON["pid"] = .string(daemon)
                }
                let queueJSON = JSONObject(JobState.allCases.map { ($0.rawValue, JSONValue.int(queue[$0.rawValue] ?? 0)) })
                let document: JSONObject = [
                    "daemon": .object(daemonJSON),
                    "active_runs": .array(rowsJSON(active)),
                    "queue": .object(queueJSON),
                    "oldest_queued_age_s": oldest.map(JSONValue.double) ?? .null,
                    "failures_last_hour": [
                        "count": .int(Int64(failures.count)),
                        "by_status": .object(JSONObject(byStatus.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.int(Int64($0.value))) })),
                        "recent": .array(rowsJSON(Array(failures.prefix(10)))),
                    ],
                ]
                print(JSONValue.object(document).serialized())
                return
            }
            if config.usesPostgres {
                print("daemons holding runs: " + (holders.isEmpty ? "none" : holders.map { "\($0.owner) (\($0.runs) runs)" }.joined(separator: ", ")))
            } else {
                print("daemon: " + (daemon.map { "running (pid \($0))" } ?? "not running (no serve holds \(config.database).serve-lock)"))
            }
            print("active runs: \(active.count)")
            if !active.isEmpty { printRows(active, json: false) }
            let queueText = JobState.allCases.map { "\($0.rawValue) \(queue[$0.rawValue] ?? 0)" }.joined(separator: ", ")
            print("queue: \(queueText)" + (oldest.map { String(format: " (oldest queued %.0f s)", $0) } ?? ""))
            let summary = byStatus.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            print("failures in the last hour: \(failures.count)" + (summary.isEmpty ? "" : " (\(summary))"))
            if !failures.isEmpty { printRows(Array(failures.prefix(10)), json: false) }
        }
    }
}

/// Daemons with unexpired leases on open runs, and how many runs each holds.
func fleetLeases(_ db: any JournalConnection) throws -> [(owner: String, runs: Int)] {
    try db.query(
        """
        SELECT lease_owner, count(*) AS n FROM runs
        WHERE ended_at IS NULL AND lease_owner IS NOT NULL AND lease_expires_at >= \(db.dialect.nowMilliseconds)
        GROUP BY lease_owner ORDER BY lease_owner
        """
    ).map { ($0["lease_owner"].text ?? "?", Int($0["n"].int ?? 0)) }
}
