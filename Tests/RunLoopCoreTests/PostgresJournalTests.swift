import FakeAssistants
import Foundation
import Testing
@testable import Journal
@testable import PostgresJournal
import RunLoopCore
@testable import Worker

/// The journal on a real PostgreSQL cluster (started by the test command, or by this process): the same views as
/// on SQLite, migrations under an advisory lock, claims that skip locked rows, leases and takeover, the copy from
/// SQLite, and the command line against it.
@Suite("PostgreSQL journal", .enabled("PostgreSQL could not be started; see the message above") { await PostgresTestCluster.available() })
struct PostgresJournalTests {
    static let mix: [String: Scenario] = [
        "asst_mix": Scenario(rounds: [
            [ScriptedToolCall("get_weather", #"{"city":"Paris"}"#), ScriptedToolCall("broken", "{}")],
            [ScriptedToolCall("get_weather", #"{"city":"Oslo"}"#)],
        ])
    ]

    /// Runs the same tool loop on SQLite and on PostgreSQL.
    static func runMix(_ h: RunHarness) async throws -> RunOutcome {
        try h.handler("get_weather", RunDriverTests.weatherScript)
        try h.handler("broken", "echo oops >&2; exit 1")
        return try await h.run("asst_mix")
    }

    @Test("a tool loop recorded in PostgreSQL reads the same through the four views as in SQLite")
    func viewsMatchSQLite() async throws {
        let sqlite = try RunHarness(scenarios: Self.mix)
        let postgres = try RunHarness(scenarios: Self.mix, postgresURL: try await PostgresTestCluster.makeDatabase())
        let a = try await Self.runMix(sqlite)
        let b = try await Self.runMix(postgres)
        #expect(a.status == .completed && b.status == .completed)
        // A handler's live output is noted only once it has run 250 ms: how many notes a run gets depends on the
        // machine's load, not on the engine, so they are left out of the comparison.
        for view in ["run_history", "tool_call_log", "event_log", "snapshot_log", "usage_by_run", "usage_daily"] {
            let live = view == "event_log" ? " WHERE event <> 'toolworker.tool_output'" : ""
            let left = try await sqlite.rows("SELECT * FROM \(view)\(live) ORDER BY 1")
            let right = try await postgres.rows("SELECT * FROM \(view)\(live) ORDER BY 1")
            #expect(!left.isEmpty && left.count == right.count, "\(view): \(left.count) rows in SQLite, \(right.count) in PostgreSQL")
            #expect(left.first?.columns == right.first?.columns, "\(view) columns differ")
        }
        let summary = "SELECT status, rounds, tool_calls, tool_errors, protocol, total_tokens FROM run_history"
        let left = try await sqlite.rows(summary).map(\.values)
        let right = try await postgres.rows(summary).map(\.values)
        #expect(left == right)
        let calls = "SELECT round, tool, state, error, exit_code, output_truncated, arguments, output, submitted_via FROM tool_call_log ORDER BY round, tool, arguments"
        #expect(try await sqlite.rows(calls).map(\.values) == postgres.rows(calls).map(\.values))
        let events = "SELECT seq, stream, event, kind, data FROM event_log WHERE event <> 'toolworker.tool_output' ORDER BY seq"
        let leftEvents = try await sqlite.rows(events).map { $0.values.prefix(4) + [.integer(Int64($0["data"].text?.count ?? 0))] }
        let rightEvents = try await postgres.rows(events).map { $0.values.prefix(4) + [.integer(Int64($0["data"].text?.count ?? 0))] }
        #expect(leftEvents.count == rightEvents.count)
        // Times look the same too: ISO-8601 text with milliseconds, UTC.
        let created = try #require(try await postgres.rows("SELECT created FROM run_history").first?["created"].text)
        #expect(created.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression) != nil, "\(created)")
        let latest = try await postgres.rows("SELECT count(*) AS n FROM snapshot_log WHERE is_latest AND object_type = 'message'")
        #expect(latest.first?["n"].int == 1)
    }

    @Test("deploy/queries.postgres.sql answers in psql from a recorded run")
    func readyQueriesInPsql() async throws {
        let url = try await PostgresTestCluster.makeDatabase()
        let h = try RunHarness(scenarios: Self.mix, postgresURL: url)
        let outcome = try await Self.runMix(h)
        let runID = try #require(outcome.runID)
        let queries = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("deploy/queries.postgres.sql")
        let sql = try String(contentsOf: queries, encoding: .utf8).replacingOccurrences(of: "run_XXX", with: runID)
        let result = try await runCommand("/usr/bin/psql", ["-X", "-v", "ON_ERROR_STOP=1", "-At", "-F", "|", url], input: sql)
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("assistants|completed|1"), "runs by protocol: \(result.output.prefix(300))")
        #expect(result.output.contains("broken|1|1|100.0|nonzero_exit"), "tool error rate")
        #expect(result.output.contains("thread.run.requires_action"), "everything in run X")
        #expect(result.output.contains("get_weather: sunny in Paris"), "final assistant message")
    }

    @Test("daemons migrating one database at once: the advisory lock lets one migrate, the others find it done")
    func concurrentMigrations() async throws {
        let url = try await PostgresTestCluster.makeDatabase()
        let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
            for _ in 0..<6 {
                group.addTask {
                    try await onThread { try PostgresSchema.migrate(try PostgresConnection(url: url)) }
                }
            }
            var all: [[Int]] = []
            for try await versions in group { all.append(versions) }
            return all
        }
        #expect(applied.filter { !$0.isEmpty } == [Array(1...PostgresSchema.version)], "applied: \(applied)")
        let connection = try PostgresConnection(url: url)
        #expect(try connection.scalar("SELECT version FROM toolworker_schema").int == Int64(PostgresSchema.version))
        #expect(try connection.scalar("SELECT count(*) FROM toolworker_schema").int == 1)
    }

    @Test("v6 drops the closed protocol list: runs and jobs take any protocol name; the daemon, not the schema, refuses one it cannot drive")
    func protocolCheckDropped() async throws {
        let url = try await PostgresTestCluster.makeDatabase()
        let store = try AuditStore(connector: PostgresConnector(url: url))
        defer { store.close() }
        let job = try await store.enqueueJob(
            assistantID: "", threadID: nil, message: "go", instructions: nil, metadata: nil, protocolName: "third")
        #expect(try await store.job(id: job)?.protocolName == "third")
        let run = try await store.createRun(assistantID: "", threadID: nil, jobID: job, request: [:], protocolName: "third")
        #expect(try await store.run(key: run)?.protocolName == "third")
        let checks = try PostgresConnection(url: url).scalar(
            "SELECT count(*) FROM pg_constraint WHERE conname IN ('runs_protocol_check', 'jobs_protocol_check')").int
        #expect(checks == 0)
    }

    @Test("a database with foreign tables of the same names, or a newer schema, is refused before anything is written")
    func refusesForeignAndNewer() async throws {
        let foreign = try await PostgresTestCluster.makeDatabase()
        try PostgresConnection(url: foreign).executeScript("CREATE TABLE runs (x integer); INSERT INTO runs VALUES (7)")
        #expect(throws: StoreCompatibilityError.self) { _ = try AuditStore(connector: PostgresConnector(url: foreign)) }
        let check = try PostgresConnection(url: foreign)
        #expect(try check.scalar("SELECT count(*) FROM runs").int == 1)
        #expect(try check.scalar("SELECT to_regclass('jobs') IS NULL").int == 1, "nothing was created")

        let newer = try await PostgresTestCluster.makeDatabase()
        try AuditStore(connector: PostgresConnector(url: newer)).close()
        try PostgresConnection(url: newer).executeScript("UPDATE toolworker_schema SET version = 99")
        #expect(throws: StoreCompatibilityError.self) { _ = try AuditStore(connector: PostgresConnector(url: newer)) }

        // The command line says so with EX_DATAERR, and masks the password of the URL it names.
        let dir = TempDirectory()
        let withPassword = newer.replacingOccurrences(of: "toolworker@", with: "toolworker:hunter2secret@")
        try "database: \"\(withPassword)\"\ntools: {}\n".write(toFile: dir.path("tw.yaml"), atomically: true, encoding: .utf8)
        let result = try await runCommand(builtProduct("toolworker"), ["runs", "--config", dir.path("tw.yaml")])
        #expect(result.status == 65, "\(result.error)")
        #expect(result.error.contains("newer ToolWorker"), "\(result.error)")
        #expect(!result.error.contains("hunter2secret") && !result.output.contains("hunter2secret"))
    }

    @Test("two daemons claiming from one queue at once: every job claimed exactly once, never two running on one thread")
    func skipLockedClaims() async throws {
        let url = try await PostgresTestCluster.makeDatabase()
        let a = try AuditStore(connector: PostgresConnector(url: url), leaseOwner: LeaseOwner(id: "a", expiry: .seconds(60)))
        let b = try AuditStore(connector: PostgresConnector(url: url), leaseOwner: LeaseOwner(id: "b", expiry: .seconds(60)))
        defer { a.close(); b.close() }
        // 60 jobs on their own threads, and 20 sharing two threads.
        for i in 0..<60 { _ = try await a.enqueueJob(assistantID: "asst", threadID: "thread_\(i)", message: "m", instructions: nil, metadata: nil) }
        for i in 0..<20 { _ = try await a.enqueueJob(assistantID: "asst", threadID: "shared_\(i % 2)", message: "m", instructions: nil, metadata: nil) }
        let claimed = try await withThrowingTaskGroup(of: [JobRecord].self) { group in
            for store in [a, b] {
                group.addTask {
                    var mine: [JobRecord] = []
                    while let job = try await store.claimNextJob() { mine.append(job) }
                    return mine
                }
            }
            var all: [[JobRecord]] = []
            for try await jobs in group { all.append(jobs) }
            return all
        }
        let ids = claimed.flatMap { $0.map(\.id) }
        #expect(ids.count == Set(ids).count, "a job was claimed twice")
        #expect(ids.count == 62, "60 own threads + one per shared thread; claimed \(ids.count)")
        #expect(claimed.allSatisfy { !$0.isEmpty }, "both daemons got work: \(claimed.map(\.count))")
        let owners = try await a.read { db in try db.query("SELECT DISTINCT lease_owner FROM jobs WHERE state = 'running' ORDER BY 1") }
        #expect(owners.map { $0["lease_owner"].text } == ["a", "b"])
        let perThread = try await a.read { db in
            try db.scalar("SELECT max(n) FROM (SELECT count(*) AS n FROM jobs WHERE state = 'running' GROUP BY thread_id) t").int
        }
        #expect(perThread == 1)
    }

    @Test("a run whose lease expired is taken over; its old holder learns it lost the lease and stops")
    func leaseTakeover() async throws {
        let url = try await PostgresTestCluster.makeDatabase()
        let a = try AuditStore(connector: PostgresConnector(url: url), leaseOwner: LeaseOwner(id: "host-a:1:x", expiry: .seconds(600)))
        let b = try AuditStore(connector: PostgresConnector(url: url), leaseOwner: LeaseOwner(id: "host-b:2:y", expiry: .seconds(60)))
        defer { a.close(); b.close() }
        let job = try await a.enqueueJob(assistantID: "asst", threadID: "thread_1", message: "m", instructions: nil, metadata: nil)
        #expect(try await a.claimNextJob()?.id == job)
        let run = try await a.createRun(assistantID: "asst", threadID: "thread_1", jobID: job, request: .object([:]))
        let keeper = LeaseKeeper(owner: a.leaseOwner!, heartbeat: .milliseconds(100))
        keeper.register(run)
        let aborted = Mutex(false)
        keeper.setAbort(run) { aborted.withLock { $0 = true } }
        #expect(try await keeper.beat(a).isEmpty, "a fresh lease is held")
        #expect(try await b.takeOverRuns(b.leaseOwner!, limit: 10).isEmpty, "a live lease is not taken")
        // A stops beating (stalled, partitioned) until its lease has run out in the database's clock (set here
        // rather than waited for: no wall-clock margin for a loaded machine to eat); then B takes over.
        try await a.write { db in
            try db.execute("UPDATE runs SET lease_expires_at = \(db.dialect.nowMilliseconds) - 1 WHERE id = ?", [.integer(run)])
            try db.execute("UPDATE jobs SET lease_expires_at = \(db.dialect.nowMilliseconds) - 1 WHERE id = ?", [.integer(job)])
        }
        let taken = try await b.takeOverRuns(b.leaseOwner!, limit: 10)
        #expect(taken.map(\.key) == [run])
        let jobOwner = try await b.read { db in try db.scalar("SELECT lease_owner FROM jobs WHERE id = ?", [.integer(job)]).text }
        #expect(jobOwner == "host-b:2:y", "the run's job moved with it")
        #expect(try await keeper.beat(a) == [run])
        #expect(keeper.isLost(run) && aborted.withLock { $0 }, "the old holder aborts its stream and stops")
        #expect(try await b.takeOverRuns(b.leaseOwner!, limit: 10).isEmpty, "B's own lease is live")
        // Claims see the open run on the thread: no second job runs there anywhere in the fleet.
        _ = try await a.enqueueJob(assistantID: "asst", threadID: "thread_1", message: "m2", instructions: nil, metadata: nil)
        #expect(try await a.claimNextJob() == nil)
    }

    @Test("text with a NUL character is stored (as U+FFFD: PostgreSQL text cannot hold NUL) instead of failing the run")
    func nulInText() async throws {
        let store = try AuditStore(connector: PostgresConnector(url: try await PostgresTestCluster.makeDatabase()))
        defer { store.close() }
        let run = try await store.createRun(assistantID: "asst", threadID: nil, jobID: nil, request: .object([:]))
        try await store.recordToolCalls(runKey: run, round: 1, calls: [(ToolCall(id: "call_1", name: "t", arguments: "{}"), nil)])
        try await store.recordToolCallOutcome(
            runKey: run, callID: "call_1", outcome: ToolCallOutcome(state: .succeeded, output: "a\u{0}b", startedAt: 1, finishedAt: 2))
        #expect(try await store.toolCalls(runKey: run).first?.output == "a\u{FFFD}b")
    }

    @Test("copy-journal copies a SQLite history into PostgreSQL; running it again copies nothing twice")
    func copyJournal() async throws {
        let sqlite = try RunHarness(scenarios: Self.mix)
        _ = try await Self.runMix(sqlite)
        _ = try await sqlite.run("asst_failed")
        _ = try await sqlite.store.enqueueJob(assistantID: "asst_text", threadID: nil, message: "later", instructions: nil, metadata: nil)
        try await sqlite.store.flush()
        let url = try await PostgresTestCluster.makeDatabase()
        let dir = TempDirectory()
        try "database: \"\(url)\"\ntools: {}\n".write(toFile: dir.path("pg.yaml"), atomically: true, encoding: .utf8)
        let source = sqlite.directory.path("audit.db")
        let first = try await runCommand(builtProduct("toolworker"), ["copy-journal", "--config", dir.path("pg.yaml"), "--from", source])
        #expect(first.status == 0, "\(first.error)")
        #expect(first.output.contains("copied 1 jobs, 2 runs"), "\(first.output)")
        let second = try await runCommand(builtProduct("toolworker"), ["copy-journal", "--config", dir.path("pg.yaml"), "--from", source])
        #expect(second.status == 0, "\(second.error)")
        #expect(second.output.contains("copied 0 jobs, 0 runs (0 events, 0 snapshots, 0 tool calls); 3 jobs and runs were copied before"), "\(second.output)")
        let target = try PostgresConnection(url: url)
        for view in ["run_history", "tool_call_log", "event_log", "snapshot_log"] {
            let columns = "run_id" + (view == "run_history" ? ", status, rounds, tool_calls, tool_errors, error_code" : view == "event_log" ? ", seq, event, kind, data" : view == "tool_call_log" ? ", call_id, state, output" : ", object_id, status, is_latest, data")
            let order = view == "event_log" ? "run_id, seq" : view == "snapshot_log" ? "run_id, snapshot_id" : "run_id, 2"
            let left = try await sqlite.rows("SELECT \(columns) FROM \(view) ORDER BY \(order)").map(\.values)
            let right = try target.query("SELECT \(columns) FROM \(view) ORDER BY \(order)").map(\.values)
            #expect(left == right, "\(view) differs after the copy")
        }
        let usage = "SELECT run_id, requests, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens FROM usage_by_run ORDER BY run_id"
        let usageLeft = try await sqlite.rows(usage).map(\.values)
        #expect(!usageLeft.isEmpty)
        #expect(usageLeft == (try target.query(usage).map(\.values)), "the usage ledger is copied with its runs")
        #expect(try target.scalar("SELECT count(*) FROM jobs WHERE state = 'queued'").int == 1)
        // A SQLite journal is refused as a target, with a usage error.
        try "database: \(dir.path("x.db"))\ntools: {}\n".write(toFile: dir.path("lite.yaml"), atomically: true, encoding: .utf8)
        let wrong = try await runCommand(builtProduct("toolworker"), ["copy-journal", "--config", dir.path("lite.yaml"), "--from", source])
        #expect(wrong.status == 64, "\(wrong.error)")
    }

    @Test("check-config and migrate speak to PostgreSQL: reachable, versioned; an unreachable server exits 74")
    func commandLine() async throws {
        let url = try await PostgresTestCluster.makeDatabase()
        let dir = TempDirectory()
        try "database: \"\(url)\"\ntools: {}\n".write(toFile: dir.path("tw.yaml"), atomically: true, encoding: .utf8)
        let tw = builtProduct("toolworker")
        let before = try await runCommand(tw, ["check-config", "--config", dir.path("tw.yaml")])
        #expect(before.status == 0, "\(before.error)")
        #expect(before.output.contains("reachable; no journal yet"), "\(before.output)")
        let migrate = try await runCommand(tw, ["migrate", "--config", dir.path("tw.yaml")])
        #expect(migrate.status == 0 && migrate.output.contains("schema version \(PostgresSchema.version)"), "\(migrate.output) \(migrate.error)")
        let after = try await runCommand(tw, ["check-config", "--config", dir.path("tw.yaml")])
        #expect(after.output.contains("schema version \(PostgresSchema.version) of \(PostgresSchema.version)"), "\(after.output)")
        let prune = try await runCommand(tw, ["prune", "--config", dir.path("tw.yaml"), "--older-than", "1d"])
        #expect(prune.status == 0 && prune.output.contains("pruned 0 runs"), "\(prune.output) \(prune.error)")
        // A finished run with events and snapshots: prune takes them all (PostgreSQL's events and snapshots have
        // no foreign key to cascade; prune deletes them itself). An open run stays.
        let store = try AuditStore(connector: PostgresConnector(url: url))
        let ended = try await store.createRun(assistantID: "asst", threadID: nil, jobID: nil, request: .object([:]))
        let open = try await store.createRun(assistantID: "asst", threadID: nil, jobID: nil, request: .object([:]))
        for run in [ended, open] {
            store.enqueueProgress(
                runKey: run,
                events: (1...3).map { EventRecord(seq: $0, stream: 1, name: "e", kind: .event, data: "{}", byteOffset: 0, error: nil, receivedAt: 0) },
                snapshots: [SnapshotRecord(eventSeq: 1, type: .run, objectID: "r", status: "x", data: .object([:]))], run: nil)
        }
        try await store.flush()
        try await store.endRun(runKey: ended, status: .error, lastError: nil)
        store.close()
        try await Task.sleep(for: .milliseconds(5))  // ended strictly before the cut-off
        let pruned = try await runCommand(tw, ["prune", "--config", dir.path("tw.yaml"), "--older-than", "0s"])
        #expect(pruned.output.contains("pruned 1 runs"), "\(pruned.output) \(pruned.error)")
        let check = try PostgresConnection(url: url)
        #expect(try check.scalar("SELECT count(*) FROM events WHERE run = ?", [.integer(ended)]).int == 0)
        #expect(try check.scalar("SELECT count(*) FROM snapshots WHERE run = ?", [.integer(ended)]).int == 0)
        #expect(try check.scalar("SELECT count(*) FROM events WHERE run = ?", [.integer(open)]).int == 3)

        // Nothing listens on this port: a clear database error, EX_IOERR.
        let closed = url.replacingOccurrences(of: #":\d+/"#, with: ":1/", options: .regularExpression)
        try "database: \"\(closed)\"\ntools: {}\n".write(toFile: dir.path("down.yaml"), atomically: true, encoding: .utf8)
        let down = try await runCommand(tw, ["check-config", "--config", dir.path("down.yaml")])
        #expect(down.status == 74, "\(down.error)")
        #expect(down.error.contains("connecting to"), "\(down.error)")
        // A password file that cannot be read is a configuration error.
        try "database: \"\(url)\"\ndatabase_password_file: /nonexistent/pw\ntools: {}\n".write(toFile: dir.path("pw.yaml"), atomically: true, encoding: .utf8)
        #expect(try await runCommand(tw, ["check-config", "--config", dir.path("pw.yaml")]).status == 78)
    }
}

extension PostgresJournalTests {
    @Test("a password from database_password_file logs in; a wrong one is refused (74) and never printed")
    func passwordFile() async throws {
        let url = try await PostgresTestCluster.makeDatabase()
        let admin = try PostgresConnection(url: url)
        let role = "pw_" + UUID().uuidString.prefix(8).lowercased()
        try admin.executeScript("CREATE ROLE \(role) LOGIN PASSWORD 'right-horse-battery'; GRANT ALL ON SCHEMA public TO \(role)")
        // This role must authenticate with its password (the test cluster trusts everyone else on loopback).
        let hbaFile = try #require(try admin.scalar("SHOW hba_file").text)
        guard FileManager.default.isWritableFile(atPath: hbaFile) else {
            Issue.record("cannot write \(hbaFile) to require a password (an outside cluster?)")
            return
        }
        let hba = try String(contentsOfFile: hbaFile, encoding: .utf8)
        try ("host all \(role) 127.0.0.1/32 scram-sha-256\n" + hba).write(toFile: hbaFile, atomically: false, encoding: .utf8)
        _ = try admin.scalar("SELECT pg_reload_conf()")
        let dir = TempDirectory()
        let roleURL = url.replacingOccurrences(of: "toolworker@", with: "\(role)@")
        try "right-horse-battery\n".write(toFile: dir.path("right"), atomically: true, encoding: .utf8)
        try "wrong-horse-battery\n".write(toFile: dir.path("wrong"), atomically: true, encoding: .utf8)
        chmod(dir.path("right"), 0o600)
        chmod(dir.path("wrong"), 0o600)
        for name in ["right", "wrong", "none"] {
            let file = name == "none" ? "" : "database_password_file: \(dir.path(name))\n"
            try "database: \"\(roleURL)\"\n\(file)tools: {}\n".write(toFile: dir.path("\(name).yaml"), atomically: true, encoding: .utf8)
        }
        let tw = builtProduct("toolworker")
        // pg_reload_conf() only signals the server: wait until the new rule is in force (the password is asked for).
        try await waitFor("the password rule in force") {
            (try? runCommandBlocking(tw, ["check-config", "--config", dir.path("none.yaml")], environment: ["PATH": "/usr/bin:/bin", "PGPASSFILE": "/nonexistent"]))?.status == 74
        }
        let right = try await runCommand(tw, ["check-config", "--config", dir.path("right.yaml")])
        #expect(right.status == 0, "\(right.error)")
        #expect(right.output.contains("reachable"), "\(right.output)")
        let wrong = try await runCommand(tw, ["check-config", "--config", dir.path("wrong.yaml")])
        #expect(wrong.status == 74, "\(wrong.output) \(wrong.error)")
        #expect(wrong.error.contains("password authentication failed"), "\(wrong.error)")
        #expect(!(wrong.output + wrong.error + right.output + right.error).contains("horse-battery"))
        // And the daemon's store opens with it.
        let migrate = try await runCommand(tw, ["migrate", "--config", dir.path("right.yaml")])
        #expect(migrate.status == 0, "\(migrate.error)")
    }
}

extension PostgresJournalTests {
    @Test("a batch claim takes at most one job per thread, the oldest due one, on SQLite and on PostgreSQL")
    func batchClaims() async throws {
        let dir = TempDirectory()
        let stores = [
            try AuditStore(path: dir.path("claims.db"), leaseOwner: LeaseOwner(id: "a", expiry: .seconds(60))),
            try AuditStore(connector: PostgresConnector(url: try await PostgresTestCluster.makeDatabase()), leaseOwner: LeaseOwner(id: "a", expiry: .seconds(60))),
        ]
        for store in stores {
            defer { store.close() }
            var onThread: [Int64] = []
            for _ in 0..<5 { onThread.append(try await store.enqueueJob(assistantID: "asst", threadID: "thread_x", message: "m", instructions: nil, metadata: nil)) }
            var free: [Int64] = []
            for _ in 0..<3 { free.append(try await store.enqueueJob(assistantID: "asst", threadID: nil, message: "m", instructions: nil, metadata: nil)) }
            let first = try await store.claimJobs(limit: 100)
            #expect(first.map(\.id) == [onThread[0]] + free, "\(store.dialect): \(first.map(\.id))")
            #expect(try await store.claimJobs(limit: 100).isEmpty, "\(store.dialect): the thread is busy with its running job")
            try await store.updateJob(id: onThread[0], state: .succeeded)
            #expect(try await store.claimJobs(limit: 100).map(\.id) == [onThread[1]], "\(store.dialect): the next one of the thread")
        }
    }
}

/// Runs blocking work (libpq calls) on a thread of its own, off the cooperative pool.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.start()
    }
}

import Synchronization
