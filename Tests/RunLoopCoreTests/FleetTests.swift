import FakeAssistants
import Foundation
import Testing
@testable import Journal
@testable import PostgresJournal
import RunLoopCore

/// Several `serve` processes sharing one PostgreSQL journal and queue, as daemons on several hosts would.
@Suite("A fleet of daemons on one PostgreSQL journal", .serialized, .enabled("PostgreSQL could not be started") { await PostgresTestCluster.available() })
struct FleetTests {
    @Test("three daemons, 200 jobs, one SIGKILLed mid-run and one mid-handler: every job completes, no call runs twice, every round answered once")
    func threeDaemons() async throws {
        let directory = TempDirectory()
        let server = try FakeAssistantsServer(scenarios: [
            "asst_fleet": Scenario(
                rounds: [
                    [ScriptedToolCall("charge", #"{"n":1}"#), ScriptedToolCall("charge", #"{"n":2}"#)],
                    [ScriptedToolCall("charge", #"{"n":3}"#)],
                ],
                finalText: "all charged", deltaPieces: 4, frameDelay: .milliseconds(1))
        ])
        defer { server.stop() }
        let url = try await PostgresTestCluster.makeDatabase()
        let ledger = directory.path("ledger")
        let handler = directory.path("charge.sh")
        try """
            #!/bin/sh
            cat >/dev/null
            echo "$TOOLWORKER_TOOL_CALL_ID" >> \(ledger)
            sleep 0.3
            echo charged
            """.writeScript(toFile: handler)
        chmod(handler, 0o755)
        let config = directory.path("toolworker.yaml")
        try """
            api: { base_url: "\(server.baseURL)", idle_timeout: 60s }
            database: "\(url)"
            fleet: { heartbeat: 500ms, lease_expiry: 5s }
            concurrency: { runs: 12, tool_calls: 24 }
            jobs: { max_attempts: 3, retry_backoff: 200ms }
            shutdown_grace: 10s
            tools:
              charge: { command: ["\(handler)"], timeout: 30s, on_restart: fail }
            """.write(toFile: config, atomically: true, encoding: .utf8)

        let store = try AuditStore(connector: PostgresConnector(url: url))
        defer { store.close() }
        let jobCount = 200
        for i in 0..<jobCount {
            _ = try await store.enqueueJob(assistantID: "asst_fleet", threadID: nil, message: "job \(i)", instructions: nil, metadata: nil)
        }
        let environment = ["OPENAI_API_KEY": server.apiKey, "PATH": "/usr/bin:/bin"]
        var daemons: [Process] = []
        for index in 0..<3 {
            daemons.append(try startServe(config: config, environment: environment, log: directory.path("serve-\(index).log")))
        }
        defer { for process in daemons where process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let reader = try PostgresConnection(url: url)
        func count(_ sql: String) throws -> Int64 { try reader.scalar(sql).int ?? 0 }
        func logs() -> String {
            (0..<3).map { (try? String(contentsOfFile: directory.path("serve-\($0).log"), encoding: .utf8)) ?? "" }.joined(separator: "\n---\n")
        }

        // Daemon 0 dies while it drives a run on the server; daemon 1 while one of its handlers runs.
        let first = daemons[0].processIdentifier
        try await waitFor("daemon 0 driving a run", timeout: .seconds(120)) {
            try count("SELECT count(*) FROM runs WHERE ended_at IS NULL AND run_id IS NOT NULL AND lease_owner LIKE '%:\(first):%'") > 0
        }
        kill(first, SIGKILL)
        let second = daemons[1].processIdentifier
        try await waitFor("daemon 1 running a handler", timeout: .seconds(120)) {
            try count("""
                SELECT count(*) FROM tool_calls t JOIN runs r ON r.id = t.run
                WHERE t.state = 'running' AND r.ended_at IS NULL AND r.lease_owner LIKE '%:\(second):%'
                """) > 0
        }
        kill(second, SIGKILL)
        let orphaned = try count("SELECT count(*) FROM runs WHERE ended_at IS NULL AND (lease_owner LIKE '%:\(first):%' OR lease_owner LIKE '%:\(second):%')")

        do {
            try await waitFor("all jobs finished", timeout: .seconds(300)) {
                try count("SELECT count(*) FROM jobs WHERE state IN ('succeeded','failed','cancelled')") == Int64(jobCount)
            }
        } catch {
            Issue.record("\(error)\n\(logs().suffix(4000))")
            return
        }
        kill(daemons[2].processIdentifier, SIGTERM)
        await waitForExit(daemons[2])
        #expect(daemons[2].terminationStatus == 0, "the surviving daemon stops cleanly")

        let states = try reader.query("SELECT state, count(*) AS n FROM jobs GROUP BY state").map { "\($0["state"].text!)=\($0["n"].int!)" }
        #expect(states == ["succeeded=\(jobCount)"], "jobs: \(states)")
        #expect(orphaned > 0, "the killed daemons left open runs behind")
        #expect(logs().contains("took over a run whose lease expired"), "the survivor took runs over")
        // No call executed twice: the handler appends its call id to the ledger once per execution.
        let executions = try String(contentsOfFile: ledger, encoding: .utf8).split(separator: "\n").map(String.init)
        var seen: [String: Int] = [:]
        for id in executions { seen[id, default: 0] += 1 }
        #expect(seen.filter { $0.value > 1 }.isEmpty, "executed twice: \(seen.filter { $0.value > 1 })")
        #expect(try count("SELECT count(*) FROM tool_calls WHERE state = 'interrupted'") >= 1, "the call killed mid-handler was answered interrupted")
        // Every round answered exactly once, as the server saw it, and the journal agrees with the server.
        let runs = try reader.query("SELECT run_id, status FROM run_history WHERE run_id IS NOT NULL")
        #expect(runs.filter { $0["status"].text == "completed" }.count >= jobCount)
        for run in runs {
            let id = run["run_id"].text!
            #expect(server.run(id)?["status"]?.stringValue == run["status"].text, "\(id): journal and server disagree")
            guard run["status"].text == "completed" else { continue }
            let (accepted, refused) = server.submissions(id)
            #expect(accepted == 3 && refused == 0, "\(id): the server took \(accepted) outputs and refused \(refused)")
        }
        #expect(try count("""
            SELECT count(*) FROM tool_call_log t JOIN run_history r ON r.run_key = t.run_key
            WHERE r.status = 'completed' AND (t.output IS NULL OR t.submitted IS NULL)
            """) == 0, "stored but not submitted")
        #expect(try count("""
            SELECT count(*) FROM run_history r WHERE r.status = 'completed' AND NOT EXISTS (
                SELECT 1 FROM snapshot_log s WHERE s.run_key = r.run_key AND s.object_type = 'message' AND s.status = 'completed'
                AND s.data::jsonb #>> '{content,0,text,value}' = 'all charged')
            """) == 0, "completed runs without their final message")
        #expect(try count("SELECT count(*) FROM runs WHERE ended_at IS NULL") == 0)
        // The journal's snapshots are its frames', across two SIGKILLs and the takeovers.
        let verified = try await runCommand(builtProduct("toolworker"), ["verify", "--all", "--config", config], environment: environment)
        #expect(verified.status == 0 && verified.output.contains("verified \(runs.count) runs: \(runs.count) clean"), "\(verified.output) \(verified.error)")
        let someRun = try #require(runs.first?["run_id"].text)
        let followed = try await runCommand(builtProduct("toolworker"), ["events", someRun, "--follow", "--config", config], environment: environment)
        let rows = try count("SELECT count(*) FROM events WHERE run = (SELECT id FROM runs WHERE run_id = '\(someRun)')")
        #expect(followed.status == 0 && followed.output.split(separator: "\n").count == Int(rows) + 1, "\(followed.output.suffix(300))")
    }

    @Test("two daemons, one approval: the daemon waiting on it is SIGKILLed, the other takes the run over still waiting; approved from the CLI, run once")
    func approvalAcrossTwoDaemons() async throws {
        let directory = TempDirectory()
        let server = try FakeAssistantsServer(scenarios: [
            "asst_pay": Scenario(rounds: [[ScriptedToolCall("pay", #"{"amount":500}"#)]], finalText: "paid")
        ])
        defer { server.stop() }
        let url = try await PostgresTestCluster.makeDatabase()
        let ledger = directory.path("ledger")
        let handler = directory.path("pay.sh")
        try "#!/bin/sh\ncat >/dev/null\necho \"$TOOLWORKER_TOOL_CALL_ID\" >> \(ledger)\necho paid\n".writeScript(toFile: handler)
        chmod(handler, 0o755)
        let config = directory.path("toolworker.yaml")
        try """
            api: { base_url: "\(server.baseURL)", idle_timeout: 60s }
            database: "\(url)"
            fleet: { heartbeat: 500ms, lease_expiry: 3s }
            jobs: { max_attempts: 1 }
            tools:
              pay: { command: ["\(handler)"], approval: always, on_restart: fail }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let environment = ["OPENAI_API_KEY": server.apiKey, "PATH": "/usr/bin:/bin"]
        let toolworker = builtProduct("toolworker")
        let queued = try await runCommand(toolworker, ["enqueue", "--config", config, "--assistant", "asst_pay", "--message", "pay"], environment: environment)
        #expect(queued.status == 0, "\(queued)")
        let daemons = try (0..<2).map { try startServe(config: config, environment: environment, log: directory.path("serve-\($0).log")) }
        defer { for process in daemons where process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let reader = try PostgresConnection(url: url)
        func rows(_ sql: String) throws -> [SQLRow] { try reader.query(sql) }

        try await waitFor("the call to await approval", timeout: .seconds(120)) {
            try rows("SELECT call_id FROM approval_log WHERE state = 'awaiting_approval'").count == 1
        }
        let call = try #require(try rows("SELECT call_id FROM approval_log").first?["call_id"].text)
        let holder = try #require(daemons.first { daemon in
            (try? rows("SELECT lease_owner FROM runs WHERE ended_at IS NULL").first?["lease_owner"].text?.contains(":\(daemon.processIdentifier):")) == true
        })
        let survivor = try #require(daemons.first { $0 !== holder })
        kill(holder.processIdentifier, SIGKILL)
        try await waitFor("the other daemon to take the waiting run over", timeout: .seconds(120)) {
            try rows("SELECT lease_owner FROM runs WHERE ended_at IS NULL").first?["lease_owner"].text?.contains(":\(survivor.processIdentifier):") == true
        }
        #expect(!FileManager.default.fileExists(atPath: ledger), "nothing ran without a decision")
        #expect(try rows("SELECT call_id FROM approvals").count == 1, "the takeover did not ask twice")

        let approve = try await runCommand(toolworker, ["approve", call, "--config", config, "--reason", "ok"], environment: environment)
        #expect(approve.status == 0, "\(approve)")
        try await waitFor("the job to succeed", timeout: .seconds(120)) {
            try rows("SELECT state FROM jobs").first?["state"].text == "succeeded"
        }
        #expect(try String(contentsOfFile: ledger, encoding: .utf8) == call + "\n", "run exactly once, by the survivor")
        let decision = try #require(try rows("SELECT state, decided_by FROM approval_log").first)
        #expect(decision["state"].text == "approved" && decision["decided_by"].text?.isEmpty == false)
        let again = try await runCommand(toolworker, ["approve", call, "--config", config], environment: environment)
        #expect(again.status == 64, "a decision is never applied twice: \(again)")
        kill(survivor.processIdentifier, SIGTERM)
        await waitForExit(survivor)
    }

    @Test("PostgreSQL drops every connection of the daemon mid-handler: it reconnects, the job completes, the handler ran once")
    func connectionsTerminated() async throws {
        let directory = TempDirectory()
        let server = try FakeAssistantsServer(scenarios: [
            "asst_slow": Scenario(rounds: [[ScriptedToolCall("slow", "{}")], [ScriptedToolCall("slow", #"{"again":true}"#)]], finalText: "done")
        ])
        defer { server.stop() }
        let url = try await PostgresTestCluster.makeDatabase()
        let ledger = directory.path("ledger")
        let started = directory.path("started")
        let release = directory.path("release")
        let handler = directory.path("slow.sh")
        // The handler waits for the test's go-ahead, so the connections are dropped while it runs, whatever the load.
        try """
            #!/bin/sh
            cat >/dev/null
            echo "$TOOLWORKER_TOOL_CALL_ID" >> \(ledger)
            touch \(started)
            while [ ! -e \(release) ]; do sleep 0.05; done
            echo ok
            """.writeScript(toFile: handler)
        chmod(handler, 0o755)
        let config = directory.path("toolworker.yaml")
        try """
            api: { base_url: "\(server.baseURL)", idle_timeout: 60s }
            database: "\(url)"
            fleet: { heartbeat: 200ms, lease_expiry: 2s }
            tools:
              slow: { command: ["\(handler)"], timeout: 120s, on_restart: fail }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let store = try AuditStore(connector: PostgresConnector(url: url))
        _ = try await store.enqueueJob(assistantID: "asst_slow", threadID: nil, message: "go", instructions: nil, metadata: nil)
        store.close()
        let log = directory.path("serve.log")
        let process = try startServe(config: config, environment: ["OPENAI_API_KEY": server.apiKey, "PATH": "/usr/bin:/bin"], log: log)
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

        try await waitFor("the first handler running", timeout: .seconds(120)) { FileManager.default.fileExists(atPath: started) }
        let admin = try PostgresConnection(url: url)
        let terminated = try admin.scalar(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()) t").int ?? 0
        #expect(terminated >= 2, "the daemon's writer and reader connections were dropped")
        FileManager.default.createFile(atPath: release, contents: nil)
        let reader = try PostgresConnection(url: url)
        do {
            try await waitFor("the job finished", timeout: .seconds(120)) {
                try reader.scalar("SELECT count(*) FROM jobs WHERE state IN ('succeeded','failed','cancelled')").int == 1
            }
        } catch {
            Issue.record("\(error)\n\((try? String(contentsOfFile: log, encoding: .utf8))?.suffix(3000) ?? "")")
            return
        }
        kill(process.processIdentifier, SIGTERM)
        await waitForExit(process)
        #expect(try reader.scalar("SELECT state FROM jobs").text == "succeeded")
        let runID = try #require(try reader.scalar("SELECT run_id FROM run_history WHERE status = 'completed'").text)
        let (accepted, refused) = server.submissions(runID)
        #expect(accepted == 2 && refused == 0, "the server took \(accepted) outputs and refused \(refused)")
        let executions = try String(contentsOfFile: ledger, encoding: .utf8).split(separator: "\n")
        #expect(executions.count == Set(executions).count, "a call ran twice: \(executions)")
        #expect(try reader.scalar("SELECT count(*) FROM runs WHERE ended_at IS NULL").int == 0)
    }
}

