import FakeAssistants
import Foundation
import Testing
import RunLoopCore

extension SerialSuites {
typealias S = ScriptedResponsesServer

/// Hostile and sloppy Responses servers, frame by frame: each run ends with a clear outcome, every frame is stored,
/// and nothing crashes, grows without bound or loops hot.
@Suite("Responses API: hostile and sloppy servers", .serialized)
struct HostileResponsesTests {
    /// One response whose stream carries `bad` after its creation.
    private func runWithFrame(_ bad: String) async throws -> (RunOutcome, ScriptedHarness) {
        let h = try ScriptedHarness { kind, _, _ in
            guard kind == .create else { return .json(500, #"{"error":{"message":"unexpected"}}"#) }
            return .events([
                S.lifecycle("response.created", 0, S.response("resp_bad", "in_progress")),
                #"{"type":"response.output_item.added","sequence_number":1,"output_index":0,"item":{"type":"message","id":"msg_1","role":"assistant","content":[]}}"#,
                bad,
                S.lifecycle("response.completed", 9, S.response("resp_bad", "completed")),
            ])
        }
        return (try await h.run(), h)
    }

    @Test(
        "an index out of range ends that run as a protocol error: no trap, no allocation for it, the frame stored",
        arguments: [
            #"{"type":"response.output_item.added","sequence_number":2,"output_index":70000,"item":{"type":"message","id":"m2"}}"#,
            #"{"type":"response.output_item.added","sequence_number":2,"output_index":-1,"item":{"type":"message","id":"m2"}}"#,
            #"{"type":"response.content_part.added","sequence_number":2,"output_index":0,"content_index":-1,"part":{"type":"output_text","text":""}}"#,
            #"{"type":"response.reasoning_summary_part.added","sequence_number":2,"output_index":0,"summary_index":-1,"part":{"type":"summary_text","text":""}}"#,
            #"{"type":"response.content_part.added","sequence_number":2,"output_index":0,"content_index":5000000,"part":{"type":"output_text","text":""}}"#,
            #"{"type":"response.output_text.delta","sequence_number":2,"output_index":0,"content_index":65535,"delta":"x"}"#,
            #"{"type":"response.function_call_arguments.delta","sequence_number":2,"output_index":-7,"delta":"x"}"#,
        ])
    func badIndex(frame: String) async throws {
        let (outcome, h) = try await runWithFrame(frame)
        #expect(outcome.status == .failed, "\(outcome)")
        #expect(outcome.errorCode == "protocol_error")
        #expect(outcome.detail?.contains("index") == true, "\(outcome.detail ?? "")")
        let history = try #require(try await h.rows("SELECT status, error_code, error_message FROM run_history").first)
        #expect(history["status"].text == "failed")
        #expect(history["error_code"].text == "protocol_error")
        let stored = try await h.rows("SELECT data, error FROM event_log WHERE kind <> 'note' ORDER BY seq")
        // The frames up to and including the bad one, and what had already arrived behind it in the same read
        // (stored, not applied): a prefix of what was sent, in order; nothing more is read after the bad frame.
        #expect((3...4).contains(stored.count), "\(stored.map { $0["data"].text ?? "" })")
        #expect(stored.count >= 3 && stored[2]["data"].text == frame, "the bad frame is stored exactly as received")
        #expect(stored.count >= 3 && stored[2]["error"].text?.contains("index") == true)
        if stored.count == 4 { #expect(stored[3]["error"].text?.contains("not applied") == true || stored[3]["error"].text?.contains("index") == true) }
    }

    @Test("the accumulator refuses far indices before allocating: a 150-byte frame cannot make 5,000,000 parts")
    func accumulatorBounds() throws {
        var accumulator = ResponseAccumulator()
        func event(_ kind: ResponseEvent.Kind) -> ResponseEvent {
            ResponseEvent(name: "e", data: "", offset: 0, sequenceNumber: nil, kind: kind)
        }
        let first = accumulator.apply(event(.outputItemAdded(index: 0, item: ["type": "message"])))
        let ahead = accumulator.apply(event(.outputItemAdded(index: ResponseAccumulator.indexSlack, item: ["type": "message"])))
        #expect(first && ahead)
        #expect(accumulator.outputItems.count == 2, "only the announced items are output")
        let far = accumulator.apply(event(.contentPartAdded(index: 0, part: 5_000_000, value: [:])))
        #expect(!far)
        #expect(accumulator.protocolError?.contains("content_index 5000000") == true)
        let after = accumulator.apply(event(.outputItemAdded(index: 1, item: ["type": "message"])))
        #expect(!after, "nothing more is applied")
    }

    @Test("a live stream's numbers that go back or repeat are stored with a note, never dropped; [DONE] is the end marker")
    func numberingAndDone() async throws {
        let answer = S.answer("resp_num")
        let frames = [
            answer[0],
            #"{"type":"response.in_progress","response":\#(S.response("resp_num", "in_progress"))}"#,  // no number
            #"{"type":"response.output_text.delta","sequence_number":0,"output_index":0,"content_index":0,"delta":"x"}"#,  // reversal
            answer[1], answer[2], "[DONE]",
        ]
        let h = try ScriptedHarness { kind, _, _ in kind == .create ? .events(frames) : .json(404, "{}") }
        let outcome = try await h.run()
        #expect(outcome.status == .completed, "\(outcome)")
        let stored = try await h.rows("SELECT data, kind, error, response_id FROM event_log WHERE kind <> 'note' ORDER BY seq")
        #expect(stored.map { $0["data"].text ?? "" } == frames, "every frame on the wire is a row, in order")
        #expect(stored[2]["error"].text?.contains("sequence_number 0 after 0") == true, "\(stored[2]["error"].text ?? "nil")")
        #expect(stored.last?["kind"].text == "done")
        #expect(stored.allSatisfy { $0["response_id"].text == "resp_num" }, "each row names its response")
    }

    @Test("a resumed stream that brings one event and drops, again and again: backed off, bounded, then a clear end")
    func resumeHotLoop() async throws {
        let h = try ScriptedHarness { kind, occurrence, _ in
            let live = S.response("resp_loop", "in_progress", background: true)
            switch kind {
            case .create:
                return .events([S.lifecycle("response.created", 0, live)], end: .drop)
            case .resume:
                return .events([
                    #"{"type":"response.output_text.delta","sequence_number":\#(occurrence),"output_index":0,"content_index":0,"delta":"x"}"#
                ], end: .drop)
            default:
                return .json(200, live)
            }
        }
        let outcome = try await h.run { $0.schedule.pollPastExpiry = .seconds(1) }
        #expect(outcome.status == .error, "\(outcome)")
        #expect(outcome.errorCode == "lost_run")
        let resumes = h.server.requests(.resume).count
        #expect(resumes >= 1 && resumes <= h.maxRetries + 1, "resumes are bounded by api.max_retries + 1: \(resumes)")
        let notes = try await h.rows("SELECT event FROM event_log WHERE event = 'toolworker.resume_given_up'")
        #expect(notes.count == 1)
    }

    @Test("a 400 for a submit ends the round at once with submit_refused and keeps that cause, no retrieve")
    func submitRefused() async throws {
        let h = try ScriptedHarness { kind, _, _ in
            switch kind {
            case .create: return .events(S.askingFor("resp_1", calls: [S.call("call_1")]))
            case .submit: return .json(400, #"{"error":{"message":"backend said no","type":"invalid_request_error"}}"#)
            default: return .json(500, #"{"error":{"message":"retrieve is not supported"}}"#)
            }
        }
        try h.echoTool()
        let outcome = try await h.run()
        #expect(outcome.errorCode == "submit_refused", "\(outcome)")
        #expect(outcome.detail?.contains("backend said no") == true, "\(outcome.detail ?? "")")
        #expect(h.server.requests(.retrieve).isEmpty)
        let history = try #require(try await h.rows("SELECT error_message FROM run_history").first)
        #expect(history["error_message"].text?.contains("backend said no") == true)
    }

    @Test("a server that cannot retrieve: said once, the run ends at once with the first cause")
    func retrieveNotSupported() async throws {
        let h = try ScriptedHarness { kind, _, _ in
            switch kind {
            case .create: return .events([S.lifecycle("response.created", 0, S.response("resp_1", "in_progress"))], end: .drop)
            default: return .json(500, #"{"error":{"message":"Method not supported for this provider"}}"#)
            }
        }
        let outcome = try await h.run()
        #expect(outcome.errorCode == "lost_run", "\(outcome)")
        #expect(outcome.detail?.contains("cannot retrieve") == true, "\(outcome.detail ?? "")")
        #expect(outcome.detail?.contains("stream") == true, "the first cause: \(outcome.detail ?? "")")
        #expect(h.server.requests(.retrieve).count <= h.maxRetries + 1, "the client's own retries only, then no more asking")
    }

    @Test("a completed response whose call's arguments are cut off is asked for once more, then ends failed; never run")
    func truncatedArguments() async throws {
        let h = try ScriptedHarness { kind, _, _ in
            kind == .create ? .events(S.askingFor("resp_cut", calls: [S.call("call_1", arguments: #"{"city":"Par"#)])) : .json(404, "{}")
        }
        let calls = try h.echoTool()
        let outcome = try await h.run()
        #expect(outcome.status == .failed, "\(outcome)")
        #expect(outcome.errorCode == "truncated_arguments")
        #expect(h.server.requests(.create).count == 2, "retried once")
        #expect(!FileManager.default.fileExists(atPath: calls), "the handler never ran")
        #expect(try await h.rows("SELECT * FROM tool_call_log").isEmpty)
    }

    @Test("a cut answer followed by a whole one goes on normally")
    func truncatedThenWhole() async throws {
        let h = try ScriptedHarness { kind, occurrence, _ in
            switch (kind, occurrence) {
            case (.create, 1): return .events(S.askingFor("resp_cut", calls: [S.call("call_1", arguments: #"{"a":"#)]))
            case (.create, _): return .events(S.askingFor("resp_whole", calls: [S.call("call_2", arguments: #"{"a":1}"#)]))
            case (.submit, _): return .events(S.answer("resp_end"))
            default: return .json(404, "{}")
            }
        }
        try h.echoTool()
        let outcome = try await h.run()
        #expect(outcome.status == .completed, "\(outcome)")
        #expect(try await h.rows("SELECT call_id FROM tool_call_log").map { $0["call_id"].text } == ["call_2"])
    }

    @Test("a model that never stops calling tools ends with max_rounds; --max-rounds per run wins")
    func maxRounds() async throws {
        let h = try ScriptedHarness { kind, occurrence, _ in
            guard kind == .create || kind == .submit else { return .json(404, "{}") }
            let n = "\(kind.rawValue)\(occurrence)"
            return .events(S.askingFor("resp_\(n)", calls: [S.call("call_\(n)")]))
        }
        let log = try h.echoTool()
        let outcome = try await h.run(maxRounds: 3)
        #expect(outcome.status == .failed, "\(outcome)")
        #expect(outcome.errorCode == "max_rounds")
        #expect(outcome.rounds == 3)
        #expect(try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").count == 3, "three rounds ran, no fourth")
        let limited = try await h.run { $0.maxRounds = 2 }
        #expect(limited.errorCode == "max_rounds" && limited.rounds == 2, "\(limited)")
    }

    @Test("too many calls in one round, or too many argument bytes, end the loop before any handler runs")
    func roundCaps() async throws {
        let calls = (0..<5).map { S.call("call_\($0)") }
        let h = try ScriptedHarness { kind, n, _ in kind == .create ? .events(S.askingFor("resp_many\(n)", calls: calls)) : .json(404, "{}") }
        let log = try h.echoTool()
        let outcome = try await h.run { $0.maxCallsPerRound = 4 }
        #expect(outcome.errorCode == "too_many_calls", "\(outcome)")
        let bytes = try await h.run { $0.maxArgumentBytes = 8 }
        #expect(bytes.errorCode == "arguments_too_large", "\(bytes)")
        #expect(!FileManager.default.fileExists(atPath: log))
    }

    @Test("a function call without a call_id is a protocol error, not ignored")
    func callWithoutID() async throws {
        let h = try ScriptedHarness { kind, _, _ in kind == .create ? .events(S.askingFor("resp_1", calls: [S.call(nil)])) : .json(404, "{}") }
        try h.echoTool()
        let outcome = try await h.run()
        #expect(outcome.errorCode == "protocol_error", "\(outcome)")
        #expect(outcome.detail?.contains("call_id") == true)
    }

    @Test("a response id the journal already holds ends the second run clearly; no row is left open")
    func reusedResponseID() async throws {
        let h = try ScriptedHarness { kind, _, _ in kind == .create ? .events(S.answer("resp_same")) : .json(404, "{}") }
        let first = try await h.run()
        #expect(first.status == .completed)
        let second = try await h.run()
        #expect(second.errorCode == "duplicate_run_id", "\(second)")
        let open = try await h.rows("SELECT count(*) AS n FROM runs WHERE ended_at IS NULL")
        #expect(open.first?["n"].int == 0)
        #expect(try await h.rows("SELECT run_id FROM runs WHERE run_id = 'resp_same'").count == 1)
    }

    @Test("a 500 for the create is retried with the same Idempotency-Key, and the abandoned attempt is in the journal")
    func createRetried() async throws {
        let h = try ScriptedHarness { kind, occurrence, _ in
            switch (kind, occurrence) {
            case (.create, 1): return .json(500, #"{"error":{"message":"upstream exploded"}}"#)
            case (.create, _): return .events(S.answer("resp_ok"))
            default: return .json(404, "{}")
            }
        }
        h.maxRetries = 1  // the client itself never repeats a POST answered 500 (it may have acted): the driver does
        let outcome = try await h.run()
        #expect(outcome.status == .completed, "\(outcome)")
        let creates = h.server.requests(.create)
        #expect(creates.count == 2)
        let keys = creates.compactMap { $0.headers["idempotency-key"] }
        #expect(keys.count == 2 && keys[0] == keys[1] && keys[0].hasPrefix("toolworker-"), "\(keys)")
        let notes = try await h.rows("SELECT data FROM event_log WHERE event = 'toolworker.start_abandoned'")
        #expect(notes.first?["data"].text?.contains("upstream exploded") == true)
    }
}

@Suite("Responses API: call ids a server repeats", .serialized)
struct RepeatedCallIDTests {
    @Test("two calls with one call_id in a round end the loop clearly (outputs are keyed by call_id); nothing runs")
    func duplicateInRound() async throws {
        let h = try ScriptedHarness { kind, _, _ in
            kind == .create ? .events(S.askingFor("resp_dup", calls: [S.call("call_x"), S.call("call_x", arguments: #"{"b":2}"#)])) : .json(404, "{}")
        }
        let log = try h.echoTool()
        let outcome = try await h.run()
        #expect(outcome.errorCode == "duplicate_call_id", "\(outcome)")
        #expect(!FileManager.default.fileExists(atPath: log))
    }

    @Test("a call_id answered in an earlier round and asked for again gets its stored output, runs once, and the journal says so")
    func reusedInLaterRound() async throws {
        let h = try ScriptedHarness { kind, occurrence, _ in
            switch (kind, occurrence) {
            case (.create, _): return .events(S.askingFor("resp_1", calls: [S.call("call_a", arguments: #"{"n":1}"#)]))
            case (.submit, 1): return .events(S.askingFor("resp_2", calls: [S.call("call_a", arguments: #"{"n":1}"#), S.call("call_b", arguments: #"{"n":2}"#)]))
            case (.submit, _): return .events(S.answer("resp_3"))
            default: return .json(404, "{}")
            }
        }
        let log = try h.echoTool()
        let outcome = try await h.run()
        #expect(outcome.status == .completed, "\(outcome)")
        #expect(try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n") == [#"{"n":1}"#, #"{"n":2}"#], "each handler ran once")
        let second = h.server.requests(.submit)[1].json?["input"]?.arrayValue ?? []
        #expect(second.compactMap { $0["call_id"]?.stringValue } == ["call_a", "call_b"])
        #expect(second.first?["output"] == #"ok {"n":1}"#, "call_a's stored output")
        let note = try await h.rows("SELECT data FROM event_log WHERE event = 'toolworker.output_reused'")
        #expect(note.first?["data"].text?.contains("call_a") == true)
        let rounds = try await h.rows("SELECT call_id, round FROM tool_call_log ORDER BY call_id").map { ($0["call_id"].text ?? "", $0["round"].int ?? 0) }
        #expect(rounds.map(\.0) == ["call_a", "call_b"] && rounds.map(\.1) == [1, 2], "\(rounds)")
    }

    @Test("a handler finishing late in a daemon that lost the run never overwrites the answer the new owner recorded")
    func lateOutcomeAfterTakeover() async throws {
        let dir = TempDirectory()
        let store = try AuditStore(path: dir.path("audit.db"))
        defer { store.close() }
        let runKey = try await store.createRun(assistantID: "", threadID: nil, jobID: nil, request: [:])
        try await store.recordToolCalls(runKey: runKey, round: 1, calls: [(ToolCall(id: "c1", name: "t", arguments: "{}"), nil)], startingNow: ["c1"])
        try await store.recordToolCallOutcome(runKey: runKey, callID: "c1", outcome: .interrupted())
        var late = ToolCallOutcome.interrupted()
        late.state = .succeeded
        late.output = "late output"
        try await store.recordToolCallOutcome(runKey: runKey, callID: "c1", outcome: late)
        let call = try #require(try await store.toolCalls(runKey: runKey).first)
        #expect(call.state == .interrupted)
        #expect(call.output != "late output")
    }
}
}
