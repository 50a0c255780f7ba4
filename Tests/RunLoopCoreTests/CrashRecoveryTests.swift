import FakeAssistants
import Foundation
import Testing
@testable import AssistantsAPI
@testable import OpenAIClient
@testable import AssistantsBackend
@testable import HTTPTransport
@testable import Journal
import RunLoopCore
@testable import Worker

/// SIGKILL at chosen points, then a restart: every run ends terminal, no `on_restart: fail` handler runs twice,
/// no event stored before the kill goes missing.
@Suite("Crash recovery: SIGKILL and restart", .serialized)
struct CrashRecoveryTests {
    /// Events stored before the kill, as (seq, name, data).
    func snapshotEvents(_ h: DaemonHarness) throws -> [String] {
        try h.query("SELECT run_key, seq, event, data FROM event_log ORDER BY run_key, seq").map {
            "\($0["run_key"].int!)|\($0["seq"].int!)|\($0["event"].text!)|\($0["data"].text!.hashValue)"
        }
    }

    func restartAndFinish(_ h: DaemonHarness, job: Int64, before: [String]) async throws {
        #expect(try h.scalar("SELECT count(*) FROM jobs WHERE id = ? AND state = 'running'", [.integer(job)]) == 1, "killed before the job ended")
        let readyBefore = h.notify.kinds.filter { $0 == "READY" }.count
        try h.start()
        try await h.waitUntil("the restarted daemon to be ready") { h.notify.kinds.filter { $0 == "READY" }.count > readyBefore }
        try await h.waitUntil("job \(job) to end") {
            try h.scalar("SELECT count(*) FROM jobs WHERE id = ? AND state IN ('succeeded','failed','cancelled')", [.integer(job)]) == 1
        }
        let stop = try await h.stop()
        #expect(stop.status == 0 && stop.reason == .exit, "serve ended \(stop); log:\n\(h.log().suffix(2000))")
        let after = Set(try snapshotEvents(h))
        let missing = before.filter { !after.contains($0) }
        #expect(missing.isEmpty, "events lost across the crash: \(missing.prefix(3))")
        let open = try h.query("SELECT run_id, status FROM run_history WHERE ended IS NULL")
        #expect(open.isEmpty, "runs not terminal: \(open.map { $0["status"].text ?? "?" })")
        #expect(try h.query("PRAGMA integrity_check").first?.values.first?.text == "ok")
    }

    @Test("killed mid-stream: the run is reconciled and completes")
    func midStream() async throws {
        let text = (0..<1500).map { "w\($0)" }.joined(separator: " ")
        let h = try DaemonHarness(scenarios: [
            "asst_stream": Scenario(finalText: text, deltaPieces: 1500, frameDelay: .milliseconds(10))
        ])
        try h.writeConfig(tools: "  noop: { command: [\"/bin/true\"] }")
        let job = try await h.enqueue("asst_stream")
        try h.start()
        try await h.waitUntil("deltas to be stored") { try h.scalar("SELECT count(*) FROM event_log WHERE event = 'thread.message.delta'") > 30 }
        _ = try await h.stop(SIGKILL)
        let before = try snapshotEvents(h)
        #expect(before.count > 30)
        try await restartAndFinish(h, job: job, before: before)
        #expect(try h.query("SELECT state FROM jobs").first?["state"].text == "succeeded")
        let answer = try h.query("SELECT json_extract(data, '$.content[0].text.value') AS t FROM snapshot_log WHERE object_type = 'message' AND is_latest")
        #expect(answer.first?["t"].text == text, "the full answer is in the history after reconciliation")
    }

    @Test("killed mid-handler with on_restart: fail: never run twice, answered 'interrupted'")
    func midHandlerFail() async throws {
        let h = try DaemonHarness(scenarios: ["asst_once": Scenario(rounds: [[ScriptedToolCall("charge_card", "{}")]], finalText: "ok")])
        let ledger = h.directory.path("ledger")
        let handler = try h.script("charge.sh", "cat >/dev/null; echo charged >> \(ledger); sleep 5; echo receipt")
        try h.writeConfig(tools: "  charge_card: { command: [\"\(handler)\"], timeout: 30s, on_restart: fail }")
        let job = try await h.enqueue("asst_once")
        try h.start()
        try await h.waitUntil("the handler to run") { (try? String(contentsOfFile: ledger, encoding: .utf8)) != nil }
        _ = try await h.stop(SIGKILL)
        let before = try snapshotEvents(h)
        #expect(try h.query("SELECT state FROM tool_call_log").first?["state"].text == "running")
        try await restartAndFinish(h, job: job, before: before)
        #expect(try String(contentsOfFile: ledger, encoding: .utf8) == "charged\n", "the handler ran exactly once")
        let call = try #require(try h.query("SELECT * FROM tool_call_log").first)
        #expect(call["state"].text == "interrupted")
        #expect(call["output"].text?.contains("interrupted") == true)
        #expect(call["submitted"].text != nil)
        #expect(try h.query("SELECT status FROM run_history").first?["status"].text == "completed")
    }

    @Test("killed mid-handler with on_restart: rerun: the call runs again and succeeds")
    func midHandlerRerun() async throws {
        let h = try DaemonHarness(scenarios: ["asst_again": Scenario(rounds: [[ScriptedToolCall("lookup", "{}")]], finalText: "ok")])
        let runs = h.directory.path("runs")
        let handler = try h.script("lookup.sh", "cat >/dev/null; echo ran >> \(runs); sleep 1; echo found")
        try h.writeConfig(tools: "  lookup: { command: [\"\(handler)\"], timeout: 30s, on_restart: rerun }")
        let job = try await h.enqueue("asst_again")
        try h.start()
        try await h.waitUntil("the handler to run") { (try? String(contentsOfFile: runs, encoding: .utf8)) != nil }
        _ = try await h.stop(SIGKILL)
        let before = try snapshotEvents(h)
        try await restartAndFinish(h, job: job, before: before)
        #expect(try String(contentsOfFile: runs, encoding: .utf8) == "ran\nran\n")
        #expect(try h.query("SELECT state, output, attempts FROM tool_call_log").first?["output"].text == "found\n")
        #expect(try h.query("SELECT attempts FROM tool_call_log").first?["attempts"].int == 2)
    }

    @Test("killed after the output was stored but before it was submitted: submitted from the store, not recomputed")
    func storedNotSubmitted() async throws {
        let h = try DaemonHarness(scenarios: [
            "asst_later": Scenario(
                rounds: [[ScriptedToolCall("once", "{}")]], finalText: "ok",
                faults: [.httpError(status: 503, on: .submit, occurrence: 1, retryAfter: "30")])
        ])
        let count = h.directory.path("count")
        let handler = try h.script("once.sh", "cat >/dev/null; echo x >> \(count); echo result-$$")
        try h.writeConfig(tools: "  once: { command: [\"\(handler)\"], timeout: 30s, on_restart: fail }")
        let job = try await h.enqueue("asst_later")
        try h.start()
        try await h.waitUntil("the output to be stored") { try h.scalar("SELECT count(*) FROM tool_call_log WHERE output IS NOT NULL") == 1 }
        try await h.waitUntil("the first submit to be refused") { h.server.requests.contains { $0.path.hasSuffix("/submit_tool_outputs") } }
        _ = try await h.stop(SIGKILL)
        let stored = try #require(try h.query("SELECT output, submitted FROM tool_call_log").first)
        #expect(stored["submitted"].isNull)
        let before = try snapshotEvents(h)
        try await restartAndFinish(h, job: job, before: before)
        #expect(try String(contentsOfFile: count, encoding: .utf8) == "x\n", "not recomputed")
        let submits = h.server.requests.filter { $0.path.hasSuffix("/submit_tool_outputs") }
        #expect(submits.count == 2)
        #expect(submits.last?.json?["tool_outputs"]?[0]?["output"]?.stringValue == stored["output"].text)
        #expect(try h.query("SELECT status FROM run_history").first?["status"].text == "completed")
    }

    @Test("a retryable failure starts the job again on the same thread, as a new run linked to the job")
    func runLevelRetry() async throws {
        let h = try DaemonHarness(scenarios: [
            "asst_flaky": Scenario(ending: .failed(code: "server_error", message: "try again")),
            "asst_bad": Scenario(ending: .failed(code: "invalid_prompt", message: "no")),
        ])
        try h.writeConfig(tools: "  noop: { command: [\"/bin/true\"] }")
        let flaky = try await h.enqueue("asst_flaky")
        let bad = try await h.enqueue("asst_bad")
        try h.start()
        try await h.waitUntil("both jobs to end") {
            try h.scalar("SELECT count(*) FROM jobs WHERE state = 'failed'") == 2
        }
        #expect(try await h.stop().status == 0)
        let flakyRuns = try h.query("SELECT thread_id FROM run_history WHERE job_id = ?", [.integer(flaky)])
        #expect(flakyRuns.count == 3, "max_attempts 3: three runs")
        #expect(Set(flakyRuns.compactMap { $0["thread_id"].text }).count == 1, "all on the same thread")
        #expect(try h.scalar("SELECT count(*) FROM run_history WHERE job_id = ?", [.integer(bad)]) == 1, "not retryable")
        #expect(try h.query("SELECT attempts FROM jobs WHERE id = ?", [.integer(flaky)]).first?["attempts"].int == 3)
    }

    @Test("on a server without POST /threads, jobs use create-thread-and-run and retries stay on that thread")
    func noCreateThread() async throws {
        let h = try DaemonHarness(scenarios: ["asst_flaky": Scenario(ending: .failed(code: "rate_limit_exceeded", message: "slow down"))])
        h.server.disableCreateThread()
        try h.writeConfig(tools: "  noop: { command: [\"/bin/true\"] }")
        let job = try await h.enqueue("asst_flaky")
        try h.start()
        try await h.waitUntil("the job to fail after its attempts") { try h.scalar("SELECT count(*) FROM jobs WHERE state = 'failed'") == 1 }
        #expect(try await h.stop().status == 0)
        let runs = try h.query("SELECT thread_id FROM run_history WHERE job_id = ?", [.integer(job)])
        #expect(runs.count == 3)
        #expect(Set(runs.compactMap { $0["thread_id"].text }).count == 1)
        #expect(h.server.requests.filter { $0.method == "POST" && $0.path == "/v1/threads/runs" }.count == 1)
    }
}
