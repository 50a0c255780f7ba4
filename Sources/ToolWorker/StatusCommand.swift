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
            let history = JournalHistory(try openHistory(config))
            // A SQLite journal has at most one daemon (its lock file names it); a PostgreSQL one has a fleet,
            // known by the leases its daemons hold.
            let holders = config.usesPostgres ? try history.fleetLeases() : []
            let daemon = config.usesPostgres ? (holders.isEmpty ? nil : holders.map(\.owner).joined(separator: ", ")) : DaemonLock.holder(database: config.database)
            let active = try history.activeRuns()
            let queue = try history.jobCounts()
            let oldest = try history.oldestQueuedAge()
            let failures = try history.failures(since: unixMilliseconds() - 3_600_000)
            let now = unixMilliseconds()
            let limits = try history.activeLimits(now: now)
            let running = try history.runningCalls()
            var byStatus: [String: Int] = [:]
            for row in failures { byStatus[row["status"].text ?? "?", default: 0] += 1 }

            if json {
                var daemonJSON: JSONObject = ["running": .bool(daemon != nil)]
                if config.usesPostgres {
                    daemonJSON["leases"] = .array(holders.map { .object(["owner": .string($0.owner), "runs": .int(Int64($0.runs))]) })
                } else if let daemon {
                    daemonJSON["pid"] = .string(daemon)
                }
                let queueJSON = JSONObject(JobState.allCases.map { ($0.rawValue, JSONValue.int(queue[$0] ?? 0)) })
                let document: JSONObject = [
                    "daemon": .object(daemonJSON),
                    "active_runs": .array(rowsJSON(active)),
                    "queue": .object(queueJSON),
                    "oldest_queued_age_s": oldest.map(JSONValue.double) ?? .null,
                    "running_calls": .array(rowsJSON(running)),
                    "keys_and_limits": .array(limits.map { limit in
                        var entry: JSONObject = ["until_ms": .int(limit.until), "seconds_left": .int((limit.until - now + 999) / 1000), "reason": .string(limit.reason)]
                        if let label = APIKeyPool.label(ofScope: limit.scope) {
                            entry["key"] = .string(label)
                            entry["state"] = "disabled"
                        } else {
                            entry["scope"] = .string(limit.scope)
                            entry["state"] = "cooling_down"
                        }
                        return .object(entry)
                    }),
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
            let queueText = JobState.allCases.map { "\($0.rawValue) \(queue[$0] ?? 0)" }.joined(separator: ", ")
            print("queue: \(queueText)" + (oldest.map { String(format: " (oldest queued %.0f s)", $0) } ?? ""))
            if !running.isEmpty {
                print("running tool calls (latest output):")
                printRows(running.map { row in
                    // The tail of the latest piece, on one line.
                    let tail = (row["last_output"].text ?? "").split(whereSeparator: \.isNewline).last.map { String($0.suffix(60)) } ?? ""
                    return SQLRow(columns: row.columns, values: row.values.dropLast() + [.text(tail)])
                }, json: false)
            }
            if !limits.isEmpty {
                print("keys and rate limits:")
                for limit in limits {
                    let left = "\((limit.until - now + 999) / 1000) s left"
                    if let label = APIKeyPool.label(ofScope: limit.scope) {
                        print("  key \(label): \(limit.reason) (\(left))")
                    } else {
                        print("  cooling down \(limit.scope): \(limit.reason) (\(left))")
                    }
                }
            }
            let summary = byStatus.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            print("failures in the last hour: \(failures.count)" + (summary.isEmpty ? "" : " (\(summary))"))
            if !failures.isEmpty { printRows(Array(failures.prefix(10)), json: false) }
        }
    }
}
