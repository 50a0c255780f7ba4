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

@Suite("toolworker serve as a child process", .serialized)
struct DaemonTests {
    @Test("50 queued jobs all complete under the concurrency limit; sd_notify READY, WATCHDOG, STATUS, STOPPING")
    func fiftyJobs() async throws {
        let h = try DaemonHarness()
        let times = h.directory.path("times")
        let handler = try h.script("weather.sh", """
            cat >/dev/null
            echo "start $(date +%s%N)" >> \(times)
            sleep 0.2
            echo "end $(date +%s%N)" >> \(times)
            echo sunny
            """)
        try h.writeConfig(runs: 4, tools: "  get_weather: { command: [\"\(handler)\"], timeout: 10s }")
        let sharedThread = h.server.makeThread()
        var ids: [Int64] = []
        for i in 0..<50 {
            // A few jobs share one thread: they must run one after another, never "already has an active run".
            ids.append(try await h.enqueue("asst_weather", message: "job \(i)", thread: i % 10 == 0 ? sharedThread : nil))
        }
        try h.start()
        try await h.waitUntil("50 jobs to succeed") { try h.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'") == 50 }
        try await Task.sleep(for: .milliseconds(700))  // at least one more watchdog period
        let stop = try await h.stop(SIGTERM)
        #expect(stop.status == 0 && stop.reason == .exit)

        #expect(try h.scalar("SELECT count(*) FROM run_history WHERE status = 'completed'") == 50)
        #expect(try h.scalar("SELECT count(*) FROM jobs WHERE state <> 'succeeded'") == 0)
        #expect(!h.log().contains("already has an active run"))
        // Concurrency: never more than 4 handlers (one per run) at once, and really more than one.
        var events: [(Int, Int)] = []
        for line in try String(contentsOfFile: times, encoding: .utf8).split(separator: "\n") {
            let parts = line.split(separator: " ")
            events.append((Int(parts[1])!, parts[0] == "start" ? 1 : -1))
        }
        var current = 0, peak = 0
        for (_, delta) in events.sorted(by: { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }) {
            current += delta
            peak = max(peak, current)
        }
        #expect(peak <= 4, "peak \(peak)")
        #expect(peak >= 2, "peak \(peak)")
        let kinds = h.notify.kinds
        #expect(kinds.first == "READY")
        #expect(kinds.contains("WATCHDOG"))
        #expect(kinds.contains("STATUS"))
        #expect(kinds.last == "STOPPING" || kinds.suffix(3).contains("STOPPING"))
        #expect(h.notify.messages.contains { $0.contains("STATUS=") && $0.contains("runs active") })
        #expect(!h.log().contains(h.server.apiKey), "the key is never logged")
    }

    @Test("SIGHUP reloads the tools (RELOADING then READY); a bad configuration is refused and the old one kept")
    func reload() async throws {
        let h = try DaemonHarness(scenarios: ["asst_b": Scenario(rounds: [[ScriptedToolCall("tool_b", "{}")]])])
        let a = try h.script("a.sh", "echo A")
        let b = try h.script("b.sh", "echo B")
        try h.writeConfig(tools: "  tool_a: { command: [\"\(a)\"] }")
        try h.start()
        try await h.waitUntil("READY") { h.notify.kinds.contains("READY") }
        try h.writeConfig(tools: "  tool_a: { command: [\"\(a)\"] }\n  tool_b: { command: [\"\(b)\"] }")
        kill(h.process!.processIdentifier, SIGHUP)
        try await h.waitUntil("reload") { h.log().contains("configuration reloaded") }
        // The datagrams are sent before the log line, but the listener thread may not have read them yet.
        try await h.waitUntil("RELOADING then READY") {
            Array(h.notify.kinds.filter { $0 != "WATCHDOG" && $0 != "STATUS" }.suffix(2)) == ["RELOADING", "READY"]
        }
        #expect(h.notify.messages.contains { $0.contains("RELOADING=1") && $0.contains("MONOTONIC_USEC=") })
        let first = try await h.enqueue("asst_b")
        try await h.waitUntil("job with the new tool") { try h.scalar("SELECT count(*) FROM jobs WHERE id = ? AND state = 'succeeded'", [.integer(first)]) == 1 }
        #expect(try h.query("SELECT output FROM tool_call_log").first?["output"].text == "B\n")

        try "tools: [this is not a mapping".write(toFile: h.configPath, atomically: true, encoding: .utf8)
        kill(h.process!.processIdentifier, SIGHUP)
        try await h.waitUntil("refusal") { h.log().contains("reload refused") }
        #expect(h.process!.isRunning)
        // A non-finite duration once crashed the loader (and with it the daemon): now it is one more refusal.
        try h.writeConfig(tools: "  tool_a: { command: [\"\(a)\"], timeout: nan }\n  tool_b: { command: [\"\(b)\"], timeout: 1e30s }")
        kill(h.process!.processIdentifier, SIGHUP)
        try await h.waitUntil("second refusal") { h.log().components(separatedBy: "reload refused").count == 3 }
        #expect(h.process!.isRunning)
        let second = try await h.enqueueDirectly("asst_b")
        try await h.waitUntil("job after a refused reload") { try h.scalar("SELECT count(*) FROM jobs WHERE id = ? AND state = 'succeeded'", [.integer(second)]) == 1 }
        #expect(try await h.stop().status == 0)
    }

    @Test("SIGTERM while a handler runs: it finishes, its output is stored and submitted, exit 0; the run completes after restart")
    func sigtermDuringHandler() async throws {
        let h = try DaemonHarness(scenarios: ["asst_slow": Scenario(rounds: [[ScriptedToolCall("slow", "{}")]], finalText: "done")])
        let marks = h.directory.path("marks")
        let slow = try h.script("slow.sh", "cat >/dev/null; echo start >> \(marks); sleep 1.5; echo end >> \(marks); echo finished")
        try h.writeConfig(grace: "120s", tools: "  slow: { command: [\"\(slow)\"], timeout: 30s, on_restart: fail }")
        let job = try await h.enqueue("asst_slow")
        try h.start()
        try await h.waitUntil("the handler to start") { (try? String(contentsOfFile: marks, encoding: .utf8))?.contains("start") == true }
        let start = ContinuousClock.now
        let stop = try await h.stop(SIGTERM)
        #expect(stop.status == 0 && stop.reason == .exit, "\(h.log())")
        // Well within the 120 s grace: the daemon stopped once the handler ended, not at the end of the grace.
        #expect(ContinuousClock.now - start < .seconds(100))
        #expect(try String(contentsOfFile: marks, encoding: .utf8) == "start\nend\n", "the handler finished")
        let call = try #require(try h.query("SELECT * FROM tool_call_log").first)
        #expect(call["state"].text == "succeeded")
        #expect(call["output"].text == "finished\n")
        #expect(call["submitted"].text != nil, "submitted before exiting")
        #expect(h.notify.kinds.contains("STOPPING"))

        try h.start()
        try await h.waitUntil("the job to finish after restart") { try h.scalar("SELECT count(*) FROM jobs WHERE id = ? AND state = 'succeeded'", [.integer(job)]) == 1 }
        #expect(try h.query("SELECT status FROM run_history").map { $0["status"].text } == ["completed"])
        #expect(try String(contentsOfFile: marks, encoding: .utf8) == "start\nend\n", "the handler ran once")
        #expect(try await h.stop().status == 0)
    }

    @Test("a long queue on one thread does not hold back jobs on other threads")
    func noHeadOfLineBlocking() async throws {
        let h = try DaemonHarness(scenarios: ["asst_slow": Scenario(rounds: [[ScriptedToolCall("slow", "{}")]], finalText: "ok")])
        let slow = try h.script("slow.sh", "cat >/dev/null; sleep 0.2; echo done")
        try h.writeConfig(runs: 2, tools: "  slow: { command: [\"\(slow)\"] }")
        let thread = h.server.makeThread()
        var serial: [Int64] = []
        for i in 0..<20 { serial.append(try await h.enqueueDirectly("asst_slow", message: "\(i)", thread: thread)) }
        let lone = try await h.enqueueDirectly("asst_text", message: "other thread")
        try h.start()
        try await h.waitUntil("the job on its own thread") { try h.scalar("SELECT count(*) FROM jobs WHERE id = ? AND state = 'succeeded'", [.integer(lone)]) == 1 }
        let doneOnThread = try h.scalar("SELECT count(*) FROM jobs WHERE thread_id = ? AND state = 'succeeded'", [.text(thread)])
        #expect(doneOnThread < 20, "the other thread's job finished while the queue on \(thread) was still draining (\(doneOnThread) done)")
        try await h.waitUntil("the serial queue") { try h.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'") == 21 }
        #expect(try await h.stop().status == 0)
        #expect(!h.log().contains("already has an active run"))
    }
}
