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

/// `serve` SIGKILLed at seeded random moments and restarted, while the server drops streams and answers 500 and
/// 429 at random: nothing is lost and nothing runs twice.
@Suite("Chaos: random SIGKILLs of serve against a faulty server", .serialized)
struct ChaosTests {
    @Test("100 jobs with tool calls complete across random kills; no call runs twice; every round answered once")
    func chaos() async throws {
        let seed: UInt64 = ProcessInfo.processInfo.environment["TOOLWORKER_CHAOS_SEED"].flatMap { UInt64($0) } ?? 20261129
        var random = SeededRandom(seed: seed)
        let h = try DaemonHarness(scenarios: [
            "asst_chaos": Scenario(
                rounds: [
                    [ScriptedToolCall("charge", #"{"n":1}"#), ScriptedToolCall("charge", #"{"n":2}"#)],
                    [ScriptedToolCall("charge", #"{"n":3}"#)],
                ],
                finalText: "all charged", deltaPieces: 8, frameDelay: .milliseconds(2))
        ])
        h.server.setChaos(ChaosFaults(seed: seed, serverErrorRate: 0.08, rateLimitRate: 0.04, dropRate: 0.12))
        let ledger = h.directory.path("ledger")
        let handler = try h.script("charge.sh", """
            cat >/dev/null
            echo "$TOOLWORKER_TOOL_CALL_ID" >> \(ledger)
            sleep 0.2
            echo charged
            """)
        try h.writeConfig(runs: 8, tools: "  charge: { command: [\"\(handler)\"], timeout: 30s, on_restart: fail }")
        let jobCount = 100
        for i in 0..<jobCount { _ = try await h.enqueueDirectly("asst_chaos", message: "job \(i)") }

        var kills = 0
        let finished = { try h.scalar("SELECT count(*) FROM jobs WHERE state IN ('succeeded','failed','cancelled')") }
        try h.start()
        // Kill at random moments while work is in flight, 12 times at most; then let the last daemon finish.
        while kills < 12 {
            try await Task.sleep(for: .milliseconds(Int64(random.next(in: 300...1500))))
            if try finished() >= Int64(jobCount) { break }
            _ = try await h.stop(SIGKILL)
            kills += 1
            try h.start()
        }
        try await h.waitUntil("all \(jobCount) jobs to end", timeout: .seconds(180)) { try finished() == Int64(jobCount) }
        let stop = try await h.stop()
        #expect(stop.status == 0, "last serve ended \(stop)")
        #expect(kills >= 3, "the daemon was killed \(kills) times")

        let states = try h.query("SELECT state, count(*) AS n FROM jobs GROUP BY state").map { "\($0["state"].text!)=\($0["n"].int!)" }
        #expect(states == ["succeeded=\(jobCount)"], "jobs: \(states)")
        // No call executed twice: the handler appends its call id to the ledger once per execution.
        let executions = try String(contentsOfFile: ledger, encoding: .utf8).split(separator: "\n").map(String.init)
        var seen: [String: Int] = [:]
        for id in executions { seen[id, default: 0] += 1 }
        let twice = seen.filter { $0.value > 1 }
        #expect(twice.isEmpty, "executed twice: \(twice)")
        // Every round answered exactly once, as the server saw it.
        let runs = try h.query("SELECT run_id, status FROM run_history WHERE run_id IS NOT NULL")
        let completed = runs.filter { $0["status"].text == "completed" }
        #expect(completed.count >= jobCount)
        for run in completed {
            let id = run["run_id"].text!
            let (accepted, refused) = h.server.submissions(id)
            #expect(accepted == 3, "\(id): the server took \(accepted) outputs")
            #expect(refused == 0, "\(id): \(refused) submits refused (a round answered twice?)")
        }
        // The journal: every call of a completed run answered and submitted, the final answer stored.
        let unsubmitted = try h.scalar("""
            SELECT count(*) FROM tool_call_log t JOIN run_history r ON r.run_key = t.run_key
            WHERE r.status = 'completed' AND (t.output IS NULL OR t.submitted IS NULL)
            """)
        #expect(unsubmitted == 0, "stored but not submitted")
        let withoutAnswer = try h.scalar("""
            SELECT count(*) FROM run_history r WHERE r.status = 'completed' AND NOT EXISTS (
                SELECT 1 FROM snapshot_log s WHERE s.run_key = r.run_key AND s.object_type = 'message' AND s.status = 'completed'
                AND json_extract(s.data, '$.content[0].text.value') = 'all charged')
            """)
        #expect(withoutAnswer == 0, "completed runs without their final message in snapshot_log")
        #expect(try h.query("PRAGMA integrity_check").first?.values.first?.text == "ok")
        // Every run's stored snapshots are what its stored frames produce, kills and reconciliations included.
        let verified = try await runCommand(h.toolworker, ["verify", "--all", "--config", h.configPath], environment: h.environment)
        #expect(verified.status == 0, "\(verified.output) \(verified.error)")
        #expect(verified.output.contains(", 0 diverging"), "\(verified.output)")
    }
}

/// A seeded generator for the test's own choices (kill moments).
struct SeededRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed ^ 0x5DEECE66D }
    mutating func next(in range: ClosedRange<Int>) -> Int {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return range.lowerBound + Int((state >> 33) % UInt64(range.count))
    }
}
