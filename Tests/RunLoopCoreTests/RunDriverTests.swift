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

@Suite("Run loop end to end: fake server, real handlers, real SQLite")
struct RunDriverTests {
    static let weatherScript = """
        args=$(cat)
        city=$(printf '%s' "$args" | sed -n 's/.*"city":"\\([^"]*\\)".*/\\1/p')
        printf 'sunny in %s' "$city"
        """

    @Test("single call: one round, output submitted with stream:true, history complete")
    func single() async throws {
        let h = try RunHarness()
        try h.handler("get_weather", Self.weatherScript)
        let outcome = try await h.run("asst_weather", metadata: ["team": "ops"])
        #expect(outcome.status == .completed)
        #expect(outcome.rounds == 1)
        #expect(outcome.finalText == "get_weather: sunny in Paris")

        let submit = try #require(h.requests("POST", "/submit_tool_outputs").first?.json)
        #expect(submit["stream"] == true)
        #expect(submit["tool_outputs"]?[0]?["output"] == "sunny in Paris")
        // The thread first (so a lost answer to the create can be checked), then the run on it.
        #expect(h.requests("POST", "/threads").count == 1)
        #expect(h.requests("POST", "/threads/runs").isEmpty)
        let threadID = try #require(outcome.threadID)
        let create = try #require(h.requests("POST", "/\(threadID)/runs").first?.json)
        #expect(create[path: "metadata.team"] == "ops")
        #expect(create[path: "metadata.toolworker_run"] == .string(String(outcome.runKey)))
        #expect(create[path: "additional_messages.0.content"] == "hi")

        let history = try #require(try await h.rows("SELECT * FROM run_history").first)
        #expect(history["run_id"].text == outcome.runID)
        #expect(history["status"].text == "completed")
        #expect(history["rounds"].int == 1)
        #expect(history["tool_calls"].int == 1)
        #expect(history["tool_errors"].int == 0)
        let call = try #require(try await h.rows("SELECT * FROM tool_call_log").first)
        #expect(call["tool"].text == "get_weather")
        #expect(call["state"].text == "succeeded")
        #expect(call["arguments"].text == #"{"city":"Paris"}"#)
        #expect(call["output"].text == "sunny in Paris")
        #expect(call["exit_code"].int == 0)
        #expect(call["submitted"].text != nil)
        let events = try await h.rows("SELECT event, stream FROM event_log ORDER BY seq").compactMap { $0["event"].text }
        #expect(events.first == "thread.run.created", "the thread was made by POST /threads before the run")
        #expect(events.filter { $0 == "done" }.count == 2)
        #expect(events.last == "done")
        #expect(events.contains("thread.run.requires_action"))
        let latest = try await h.rows("SELECT object_type, status FROM snapshot_log WHERE is_latest AND object_type = 'run'")
        #expect(latest.map { $0["status"].text } == ["completed"])
        let toolSnapshot = try await h.rows("SELECT data FROM snapshot_log WHERE object_type = 'tool_call' AND is_latest")
        #expect(toolSnapshot.count == 1)
        #expect(toolSnapshot.first?["data"].text?.contains("sunny in Paris") == true)
    }

    @Test("parallel calls really overlap in time, and are answered in one submit")
    func parallel() async throws {
        let h = try RunHarness()
        let log = h.directory.path("times.log")
        try h.handler("get_weather", """
            cat > /dev/null
            echo "start $(date +%s%N)" >> \(log)
            sleep 0.5
            echo "end $(date +%s%N)" >> \(log)
            echo ok
            """)
        let outcome = try await h.run("asst_parallel")
        #expect(outcome.status == .completed)
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        let starts = lines.filter { $0.hasPrefix("start") }.compactMap { Int($0.split(separator: " ")[1]) }
        let ends = lines.filter { $0.hasPrefix("end") }.compactMap { Int($0.split(separator: " ")[1]) }
        #expect(starts.count == 2 && ends.count == 2)
        #expect(starts.max()! < ends.min()!, "both handlers started before either ended")
        let submits = h.requests("POST", "/submit_tool_outputs")
        #expect(submits.count == 1)
        #expect(submits[0].json?["tool_outputs"]?.arrayValue?.count == 2)
    }

    @Test("two rounds accumulate across the first stream and both submit streams")
    func twoRounds() async throws {
        let h = try RunHarness()
        try h.handler("get_weather", Self.weatherScript)
        let outcome = try await h.run("asst_two_rounds")
        #expect(outcome.status == .completed)
        #expect(outcome.rounds == 2)
        #expect(outcome.finalText == "get_weather: sunny in Paris\nget_weather: sunny in Oslo")
        #expect(h.requests("POST", "/submit_tool_outputs").count == 2)
        let calls = try await h.rows("SELECT round, arguments FROM tool_call_log ORDER BY round")
        #expect(calls.map { $0["round"].int } == [1, 2])
        let streams = try await h.rows("SELECT DISTINCT stream FROM event_log ORDER BY stream").compactMap { $0["stream"].int }
        #expect(streams == [1, 2, 3])
        let steps = try await h.rows("SELECT status FROM snapshot_log WHERE object_type = 'run_step' AND is_latest")
        #expect(steps.count == 3)
        #expect(steps.allSatisfy { $0["status"].text == "completed" })
    }

    @Test("plain text answer: no tool calls, no submit")
    func plainText() async throws {
        let h = try RunHarness()
        let outcome = try await h.run("asst_text")
        #expect(outcome.status == .completed)
        #expect(outcome.finalText == "Hello from the fake assistant.")
        #expect(h.requests("POST", "/submit_tool_outputs").isEmpty)
        #expect(try await h.rows("SELECT count(*) AS n FROM tool_call_log").first?["n"].int == 0)
    }

    @Test("a failed run is recorded with its last_error")
    func failed() async throws {
        let h = try RunHarness()
        let outcome = try await h.run("asst_failed")
        #expect(outcome.status == .failed)
        #expect(outcome.detail == "server_error: Sorry, something went wrong.")
        let history = try #require(try await h.rows("SELECT * FROM run_history").first)
        #expect(history["status"].text == "failed")
        #expect(history["error_code"].text == "server_error")
        #expect(history["ended"].text != nil)
    }

    @Test("an incomplete run is recorded with its incomplete_details")
    func incomplete() async throws {
        let h = try RunHarness(scenarios: ["asst_inc": Scenario(finalText: "cut off", ending: .incomplete(reason: "max_completion_tokens"))])
        let outcome = try await h.run("asst_inc")
        #expect(outcome.status == .incomplete)
        #expect(try await h.rows("SELECT incomplete_reason FROM run_history").first?["incomplete_reason"].text == "max_completion_tokens")
    }

    @Test("tool time-outs are clamped so the round ends before the run's expires_at")
    func clampedToExpiry() async throws {
        let h = try RunHarness(scenarios: ["asst_slow": Scenario(rounds: [[ScriptedToolCall("slow", "{}")]], expiresAfter: 50)])
        try h.handler("slow", "sleep 300; echo late") { $0.timeout = .seconds(240) }
        var driver = h.driver()
        // The handler is stopped about 10 s after it starts, leaving 40 s for the teardown and the submit: a loaded
        // run once stalled the whole test process for about 30 s.
        driver.schedule.expiryMargin = .seconds(40)
        let outcome = try await driver.run(RunRequest(assistantID: "asst_slow", message: "x"))
        let duration = try #require(try await h.rows("SELECT duration_ms FROM tool_call_log").first?["duration_ms"].int)
        #expect(duration < 50_000, "the 240 s tool time-out was clamped to the run's expiry (ran \(duration) ms)")
        #expect(outcome.status == .completed, "the time-out output reached the server before the run expired")
        #expect(try await h.rows("SELECT state FROM tool_call_log").first?["state"].text == "timed_out")
    }

    @Test("outputs that arrive after expires_at: the submit is refused and the run is recorded as expired")
    func expired() async throws {
        let h = try RunHarness(scenarios: ["asst_late": Scenario(rounds: [[ScriptedToolCall("slow", "{}")]], expiresAfter: 1)])
        try h.handler("slow", "sleep 2.5; echo late") { $0.timeout = .seconds(60) }
        var driver = h.driver()
        driver.schedule.expiryMargin = .seconds(-120)  // let the handler run past the deadline on purpose, load or not
        let outcome = try await driver.run(RunRequest(assistantID: "asst_late", message: "x"))
        #expect(outcome.status == .expired)
        #expect(try await h.rows("SELECT status FROM run_history").first?["status"].text == "expired")
        let call = try #require(try await h.rows("SELECT * FROM tool_call_log").first)
        #expect(call["state"].text == "succeeded")
        #expect(call["submitted"].isNull, "the refused submit is not marked submitted")
        let notes = try await h.rows("SELECT data FROM event_log WHERE event = 'toolworker.submit_failed'")
        #expect(notes.first?["data"].text?.contains("do not accept tool outputs") == true)
    }

    @Test("a run left in_progress by its stream is polled until it ends")
    func pollsUntilTerminal() async throws {
        let h = try RunHarness(scenarios: ["asst_hang": Scenario(ending: .hangs(completesAfterPolls: 3))])
        let outcome = try await h.run("asst_hang")
        #expect(outcome.status == .completed)
        #expect(h.requests("GET", "/runs/\(outcome.runID!)").count == 3, "polled until the third answer said completed")
        let statuses = try await h.rows("SELECT data FROM event_log WHERE event = 'toolworker.reconciled' ORDER BY seq")
            .compactMap { $0["data"].text.flatMap { try? JSONValue(parsing: $0) }?["status"]?.stringValue }
        #expect(statuses == ["in_progress", "completed"], "one row per change of status, not one per poll")
    }

    @Test("a run left in_progress is recorded expired once the server expires it")
    func pollsUntilExpired() async throws {
        let h = try RunHarness(scenarios: ["asst_hang": Scenario(ending: .hangs(), expiresAfter: 1)])
        let outcome = try await h.run("asst_hang")
        #expect(outcome.status == .expired)
    }

    @Test("a run that outlives its expires_at without ending is given up on, as an error of ToolWorker's")
    func givesUp() async throws {
        let h = try RunHarness(scenarios: ["asst_hang": Scenario(ending: .hangs(), expiresAfter: 30)])
        var driver = h.driver()
        driver.schedule.pollPastExpiry = .seconds(-29)  // i.e. give up about a second after the start
        let outcome = try await driver.run(RunRequest(assistantID: "asst_hang", message: "x"))
        #expect(outcome.status == .error)
        #expect(outcome.detail?.contains("long after its expires_at") == true)
        let history = try #require(try await h.rows("SELECT status, error_code FROM run_history").first)
        #expect(history["status"].text == "error")
        #expect(history["error_code"].text == "lost_run")
    }

    @Test("a server-side expiry event ends the run as expired")
    func expiredByServer() async throws {
        let h = try RunHarness()
        let outcome = try await h.run("asst_expired")
        #expect(outcome.status == .expired)
    }

    @Test("a stream dropped before requires_action: the driver retrieves the run and goes on")
    func droppedStream() async throws {
        let h = try RunHarness(scenarios: [
            "asst_drop": Scenario(rounds: [[ScriptedToolCall("get_weather", #"{"city":"Rome"}"#)]], faults: [.dropStream(on: .create, afterFrames: 5)])
        ])
        try h.handler("get_weather", Self.weatherScript)
        let outcome = try await h.run("asst_drop")
        #expect(outcome.status == .completed)
        #expect(outcome.finalText == "get_weather: sunny in Rome")
        #expect(h.requests("GET", "/runs/\(outcome.runID!)").count >= 1)
        let notes = try await h.rows("SELECT event FROM event_log WHERE kind = 'note'").compactMap { $0["event"].text }
        #expect(notes.contains("toolworker.stream_error"))
        #expect(notes.contains("toolworker.reconciled"))
        #expect(try await h.rows("SELECT state FROM tool_call_log").first?["state"].text == "succeeded")
    }

    @Test("a submit stream dropped mid-way: the driver polls the run to its end and stores the messages")
    func droppedSubmitStream() async throws {
        let h = try RunHarness(scenarios: [
            "asst_drop2": Scenario(rounds: [[ScriptedToolCall("get_weather", #"{"city":"Lima"}"#)]], faults: [.dropStream(on: .submit, afterFrames: 2)])
        ])
        try h.handler("get_weather", Self.weatherScript)
        let outcome = try await h.run("asst_drop2")
        #expect(outcome.status == .completed)
        #expect(outcome.finalText == "get_weather: sunny in Lima")
        let message = try await h.rows("SELECT data FROM snapshot_log WHERE object_type = 'message' AND is_latest")
        #expect(message.first?["data"].text?.contains("sunny in Lima") == true)
        #expect(h.requests("POST", "/submit_tool_outputs").count == 1, "a submit the server accepted is never sent again")
    }

    @Test("a malformed frame is stored as such and the run completes")
    func malformed() async throws {
        let h = try RunHarness(scenarios: ["asst_bad": Scenario(finalText: "fine", faults: [.malformedFrame(on: .create, afterFrames: 3)])])
        let outcome = try await h.run("asst_bad")
        #expect(outcome.status == .completed)
        let bad = try await h.rows("SELECT event, error, data FROM event_log WHERE kind = 'malformed'")
        #expect(bad.count == 1)
        #expect(bad.first?["error"].text?.contains("invalid JSON") == true || bad.first?["error"].text?.contains("data byte") == true)
        #expect(bad.first?["data"].text == "{\"id\": oops")
    }

    @Test("an error event mid-stream is stored, and the run is followed to its end")
    func errorEvent() async throws {
        let h = try RunHarness(scenarios: ["asst_err": Scenario(finalText: "after error", faults: [.errorEvent(on: .create, afterFrames: 4)])])
        let outcome = try await h.run("asst_err")
        #expect(outcome.status == .completed)
        #expect(outcome.finalText == "after error")
        let errors = try await h.rows("SELECT error FROM event_log WHERE kind = 'error'")
        #expect(errors.first?["error"].text?.contains("The server had an error while streaming.") == true)
        #expect(try await h.rows("SELECT event FROM event_log WHERE event = 'toolworker.reconciled'").count == 1)
    }

    @Test("a stalled stream is detected by the idle time-out and reconciled")
    func stalled() async throws {
        let h = try RunHarness(scenarios: ["asst_stall": Scenario(finalText: "after stall", faults: [.stall(on: .create, afterFrames: 4, seconds: 30)])])
        h.idleTimeout = .milliseconds(500)
        let outcome = try await h.run("asst_stall")
        #expect(outcome.status == .completed)
        #expect(outcome.finalText == "after stall")
    }

    @Test("creating a run on an unknown assistant ends in error with the API's message")
    func createRejected() async throws {
        let h = try RunHarness()
        let outcome = try await h.run("asst_nope")
        #expect(outcome.status == .error)
        #expect(outcome.detail?.contains("No assistant found") == true)
        #expect(try await h.rows("SELECT status FROM run_history").first?["status"].text == "error")
    }
}

@Suite("snapshots: all")
struct SnapshotsAllTests {
    /// Runs a 300-delta answer under `snapshots: all` and checks the delta snapshots: after the 1st, 2nd, 4th … 256th
    /// delta of the message, each equal to the text the deltas up to it make, their text within twice the final text.
    @Test("delta snapshots are sampled at doubling counts, each the exact accumulated state", arguments: ["assistants", "responses"])
    func doublingSamples(protocolName: String) async throws {
        let words = (0..<300).map { "w\($0) " }
        let h = try RunHarness(scenarios: ["long": Scenario(finalText: words.joined(), deltaPieces: 300)])
        h.policy = .all
        let outcome = protocolName == "assistants" ? try await h.run("long") : try await h.respond("long")
        #expect(outcome.status == .completed)
        let deltaName = protocolName == "assistants" ? "thread.message.delta" : "response.output_text.delta"
        let events = try await h.rows("SELECT seq, data FROM events WHERE name = ? ORDER BY seq", [.text(deltaName)])
        #expect(events.count == 300)
        var textAfter: [Int64: (ordinal: Int, text: String)] = [:]
        var text = ""
        for (ordinal, event) in events.enumerated() {
            let json = try JSONValue(parsing: try #require(event["data"].text))
            let piece = protocolName == "assistants" ? json[path: "delta.content.0.text.value"] : json["delta"]
            text += try #require(piece?.stringValue)
            textAfter[try #require(event["seq"].int)] = (ordinal + 1, text)
        }
        #expect(text == words.joined())
        let snapshots = try await h.rows("SELECT event_seq, data FROM snapshots WHERE object_type = 'message' ORDER BY id")
        var sampled: [Int] = []
        var deltaSnapshotBytes = 0
        var finalSize = 0
        for snapshot in snapshots {
            let data = try #require(snapshot["data"].text)
            let message = try JSONValue(parsing: data)
            let snapshotText = protocolName == "assistants" ? Message(json: message).text : message[path: "content.0.text"]?.stringValue
            guard let seq = snapshot["event_seq"].int, let after = textAfter[seq] else {
                finalSize = max(finalSize, data.utf8.count)  // a lifecycle snapshot
                continue
            }
            sampled.append(after.ordinal)
            deltaSnapshotBytes += data.utf8.count
            #expect(snapshotText == after.text, "snapshot after delta \(after.ordinal)")
        }
        #expect(sampled == [1, 2, 4, 8, 16, 32, 64, 128, 256])
        #expect(finalSize >= words.joined().utf8.count)
        // Doubling keeps their text under twice the final text; each also carries the message's envelope once.
        let finalText = words.joined().utf8.count
        let envelope = finalSize - finalText
        #expect(
            deltaSnapshotBytes <= 2 * finalText + sampled.count * envelope,
            "\(deltaSnapshotBytes) bytes of delta snapshots; final text \(finalText), envelope \(envelope)")
    }
}
