import FakeAssistants
import Foundation
import Synchronization
import Testing
@testable import AssistantsAPI
@testable import OpenAIClient
@testable import AssistantsBackend
@testable import HTTPTransport
@testable import Journal
import RunLoopCore
@testable import Worker

@Suite("Assistants client over libcurl, against the fake server on loopback")
struct AssistantsClientTests {
    @Test("create thread and run streams to requires_action with every header the API needs")
    func createThreadAndRun() async throws {
        let harness = try ClientHarness()
        defer { harness.server.stop() }
        let response = try await harness.client.createThreadAndRun(["assistant_id": "asst_parallel", "metadata": ["job": "7"]])
        #expect(response.requestID?.hasPrefix("req_") == true)
        let (events, stream) = try await readAll(response)
        #expect(events.first?.name == "thread.created")
        #expect(events.last?.event == .done)
        let run = try #require(stream.accumulator.finalRun)
        #expect(run.status == .requiresAction)
        #expect(run.requiredToolCalls.map(\.name) == ["get_weather", "get_weather"])
        #expect(run.requiredToolCalls.map(\.arguments) == [#"{"city":"Paris"}"#, #"{"city":"Tokyo"}"#])
        // The streamed arguments accumulate to what required_action lists.
        let streamed = stream.accumulator.toolCalls.compactMap { $0[path: "function.arguments"]?.stringValue }
        #expect(streamed == run.requiredToolCalls.map(\.arguments))

        let sent = try #require(harness.requests("POST", pathSuffix: "/threads/runs").first)
        #expect(sent.headers["authorization"] == "Bearer \(harness.server.apiKey)")
        #expect(sent.headers["openai-beta"] == "assistants=v2")
        #expect(sent.headers["content-type"] == "application/json")
        #expect(sent.headers["user-agent"]?.hasPrefix("ToolWorker/") == true)
        #expect(sent.json?["stream"] == true)
        #expect(sent.json?[path: "metadata.job"] == "7")
    }

    @Test("submit tool outputs streams the next round to completion; retrieve, steps and messages agree")
    func submitAndRetrieve() async throws {
        let harness = try ClientHarness()
        defer { harness.server.stop() }
        let (_, first) = try await readAll(try await harness.client.createThreadAndRun(["assistant_id": "asst_weather"]))
        let run = try #require(first.accumulator.finalRun)
        let threadID = try #require(run.threadID), runID = try #require(run.id)
        let outputs = run.requiredToolCalls.map { ToolOutput(toolCallID: $0.id, output: "sunny, 21 C") }
        let (_, second) = try await readAll(
            try await harness.client.submitToolOutputs(threadID: threadID, runID: runID, outputs: outputs),
            accumulator: first.accumulator)
        #expect(second.accumulator.finalRun?.status == .completed)
        #expect(second.accumulator.finalMessages.last?.text == "get_weather: sunny, 21 C")
        // The submit stream completed the step created by the first stream.
        let steps = second.accumulator.finalRunSteps
        #expect(steps.count == 2)
        #expect(steps[0].status == "completed")
        #expect(steps[0].json[path: "step_details.tool_calls.0.function.output"] == "sunny, 21 C")

        let retrieved = try await harness.client.retrieveRun(threadID: threadID, runID: runID)
        #expect(retrieved.status == .completed)
        let listed = try await harness.client.listRunSteps(threadID: threadID, runID: runID)
        #expect(listed.map(\.id) == steps.map(\.id))
        let messages = try await harness.client.listMessages(threadID: threadID, runID: runID)
        #expect(messages.map(\.text) == ["get_weather: sunny, 21 C"])
        let submitted = try #require(harness.requests("POST", pathSuffix: "/submit_tool_outputs").first?.json)
        #expect(submitted["stream"] == true)
        #expect(submitted["tool_outputs"]?[0]?["tool_call_id"]?.stringValue == run.requiredToolCalls[0].id)
    }

    @Test("organization and project headers are sent when configured")
    func organizationHeaders() async throws {
        let harness = try ClientHarness {
            $0.organization = "org-123"
            $0.project = "proj_456"
        }
        defer { harness.server.stop() }
        _ = try await harness.client.retrieveAssistant(id: "asst_x")
        let sent = try #require(harness.server.requests.last)
        #expect(sent.headers["openai-organization"] == "org-123")
        #expect(sent.headers["openai-project"] == "proj_456")
        #expect(sent.headers["accept"] == "application/json")
        #expect(sent.headers["content-type"] == nil, "no body, no content type")
    }

    @Test("a wrong API key is a typed 401 with the server's error fields and request id")
    func wrongKey() async throws {
        let harness = try ClientHarness { $0.apiKey = "sk-wrong" }
        defer { harness.server.stop() }
        let error = await #expect(throws: OpenAIClientError.self) {
            _ = try await harness.client.createThreadAndRun(["assistant_id": "asst_text"])
        }
        guard case .api(let apiError)? = error else { Issue.record("expected an API error, got \(String(describing: error))"); return }
        #expect(apiError.status == 401)
        #expect(apiError.code == "invalid_api_key")
        #expect(apiError.type == "invalid_request_error")
        #expect(apiError.requestID?.hasPrefix("req_") == true)
        #expect(!apiError.description.contains("sk-wrong"))
        #expect(harness.server.requests.count == 1, "a 401 is not retried")
    }

    @Test("a missing OpenAI-Beta header is refused with the API's 400")
    func missingBeta() async throws {
        let harness = try ClientHarness()
        defer { harness.server.stop() }
        let http = HTTPClient()
        let request = HTTPRequest(
            method: .get, url: harness.server.baseURL + "/threads/thread_x/runs/run_x",
            headers: [("Authorization", "Bearer \(harness.server.apiKey)")])
        let (head, body) = try await http.send(request)
        #expect(head.status == 400)
        let error = APIError(head: head, body: body)
        #expect(error.code == "invalid_beta")
        #expect(request.description.contains("[redacted]"))
        #expect(!request.description.contains(harness.server.apiKey))
    }

    @Test("500 once on an idempotent request is retried and succeeds")
    func serverErrorRetried() async throws {
        let harness = try ClientHarness(scenarios: [
            "asst_r": Scenario(finalText: "ok", faults: [.httpError(status: 500, on: .retrieve)])
        ])
        defer { harness.server.stop() }
        let (_, stream) = try await readAll(try await harness.client.createThreadAndRun(["assistant_id": "asst_r"]))
        let run = try #require(stream.accumulator.finalRun)
        let retrieved = try await harness.client.retrieveRun(threadID: run.threadID!, runID: run.id!)
        #expect(retrieved.status == .completed)
        #expect(harness.requests("GET", pathSuffix: "/runs/\(run.id!)").count == 2)
    }

    @Test("500 on create is not retried: the run may exist")
    func serverErrorOnCreateNotRetried() async throws {
        let harness = try ClientHarness(scenarios: ["asst_c": Scenario(faults: [.httpError(status: 500, on: .create)])])
        defer { harness.server.stop() }
        let error = await #expect(throws: OpenAIClientError.self) {
            _ = try await harness.client.createThreadAndRun(["assistant_id": "asst_c"])
        }
        #expect(error?.status == 500)
        #expect(harness.requests("POST", pathSuffix: "/threads/runs").count == 1)
    }

    @Test("429 with Retry-After is honoured, then the create succeeds")
    func rateLimited() async throws {
        let harness = try ClientHarness(scenarios: [
            "asst_429": Scenario(finalText: "ok", faults: [.httpError(status: 429, on: .create, retryAfter: "1")])
        ])
        defer { harness.server.stop() }
        let start = ContinuousClock.now
        let (_, stream) = try await readAll(try await harness.client.createThreadAndRun(["assistant_id": "asst_429"]))
        let waited = ContinuousClock.now - start
        #expect(stream.accumulator.finalRun?.status == .completed)
        #expect(harness.requests("POST", pathSuffix: "/threads/runs").count == 2)
        #expect(waited >= .milliseconds(950), "Retry-After: 1 must be honoured (waited \(waited))")
    }

    @Test("retries stop at the budget and report the last error")
    func retryBudget() async throws {
        let harness = try ClientHarness(scenarios: [
            "asst_503": Scenario(faults: (1...5).map { .httpError(status: 503, on: .create, occurrence: $0) })
        ])
        defer { harness.server.stop() }
        let error = await #expect(throws: OpenAIClientError.self) {
            _ = try await harness.client.createThreadAndRun(["assistant_id": "asst_503"])
        }
        #expect(error?.status == 503)
        #expect(harness.requests("POST", pathSuffix: "/threads/runs").count == 3)
    }

    @Test("connection refused is a transport error, retried because nothing was sent")
    func connectionRefused() async throws {
        let refusing = try RefusingPort()
        defer { withExtendedLifetime(refusing) {} }
        let url = refusing.baseURL
        var configuration = OpenAIClientConfiguration(baseURL: url, apiKey: "k")
        configuration.retry = RetryPolicy(maxRetries: 2, baseDelay: .milliseconds(10), maxDelay: .milliseconds(20))
        let client = AssistantsClient(configuration: configuration)
        let error = await #expect(throws: OpenAIClientError.self) {
            _ = try await client.createThreadAndRun(["assistant_id": "asst_text"])
        }
        guard case .transport(let transport)? = error else { Issue.record("expected transport error"); return }
        #expect(transport.kind == .couldNotConnect)
        #expect(!transport.requestMayHaveBeenSent)
    }

    @Test("a server that never accepts the connection hits the connect time-out, not a hang")
    func connectTimeout() async throws {
        // A listening socket whose accept queue is full: further SYNs are dropped and connect() waits.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(listener, 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))
        var fillers: [Int32] = []
        defer { fillers.forEach { close($0) } }
        for _ in 0..<4 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            fillers.append(fd)
        }
        var configuration = OpenAIClientConfiguration(baseURL: "http://127.0.0.1:\(port)/v1", apiKey: "k")
        configuration.http.connectTimeout = .milliseconds(500)
        configuration.retry = RetryPolicy(maxRetries: 0)
        let client = AssistantsClient(configuration: configuration)
        let start = ContinuousClock.now
        let error = await #expect(throws: OpenAIClientError.self) {
            _ = try await client.retrieveRun(threadID: "thread_x", runID: "run_x")
        }
        let elapsed = ContinuousClock.now - start
        #expect(elapsed >= .milliseconds(400), "waited for the connect time-out, not refused at once (\(elapsed))")
        // A hang would never end; the bound is far from the 0.5 s configured, so load cannot break it.
        #expect(elapsed < .seconds(60))
        guard case .transport(let transport)? = error else { Issue.record("expected a transport error, got \(String(describing: error))"); return }
        #expect(transport.kind == .timedOut || transport.kind == .couldNotConnect, "\(transport)")
        #expect(!transport.requestMayHaveBeenSent)
    }

    @Test("a connection dropped mid-stream surfaces after the events that arrived")
    func droppedStream() async throws {
        let harness = try ClientHarness(scenarios: [
            "asst_drop": Scenario(rounds: [[ScriptedToolCall("t", "{}")]], faults: [.dropStream(on: .create, afterFrames: 4)])
        ])
        defer { harness.server.stop() }
        let response = try await harness.client.createThreadAndRun(["assistant_id": "asst_drop"])
        let stream = response.events()
        var names: [String] = []
        await #expect(throws: (any Error).self) {
            for try await element in stream { if case .event(let event) = element { names.append(event.name) } }
        }
        #expect(names == ["thread.created", "thread.run.created", "thread.run.queued", "thread.run.in_progress"])
        // The run goes on server-side: it waits for outputs.
        let run = try await harness.client.retrieveRun(threadID: stream.accumulator.threadID!, runID: stream.currentRun()!.id!)
        #expect(run.status == .requiresAction)
    }

    @Test("a malformed frame is reported in place and the stream goes on")
    func malformedFrame() async throws {
        let harness = try ClientHarness(scenarios: [
            "asst_bad": Scenario(finalText: "fine", faults: [.malformedFrame(on: .create, afterFrames: 2)])
        ])
        defer { harness.server.stop() }
        let (events, stream) = try await readAll(try await harness.client.createThreadAndRun(["assistant_id": "asst_bad"]))
        guard case .malformed(let error) = events[2].event else { Issue.record("expected malformed, got \(events[2].event)"); return }
        #expect(error.event == "thread.run.queued")
        #expect(stream.accumulator.finalRun?.status == .completed)
    }

    @Test("a stalled stream ends with a stall error after the idle time-out, not a hang")
    func stalled() async throws {
        let harness = try ClientHarness(
            scenarios: ["asst_stall": Scenario(faults: [.stall(on: .create, afterFrames: 3, seconds: 60)])],
            configure: { $0.http.idleTimeout = .milliseconds(500) })
        defer { harness.server.stop() }
        let start = ContinuousClock.now
        let response = try await harness.client.createThreadAndRun(["assistant_id": "asst_stall"])
        let error = await #expect(throws: TransportError.self) { _ = try await readAll(response) }
        #expect(error?.kind == .stalled)
        // The server holds the connection for 60 s; ending before that proves the idle time-out fired (the margin is
        // wide: a loaded machine took 41 s once).
        #expect(ContinuousClock.now - start < .seconds(58))
    }

    @Test("a slow reader pauses the transfer instead of buffering without bound")
    func backpressure() async throws {
        let bigText = String(repeating: "0123456789abcdef", count: 128 * 1024)  // 2 MiB of answer
        let harness = try ClientHarness(
            scenarios: ["asst_big": Scenario(finalText: bigText, deltaPieces: 1024)],
            configure: { $0.http.streamBufferBytes = 64 * 1024 })
        defer { harness.server.stop() }
        let response = try await harness.client.createThreadAndRun(["assistant_id": "asst_big"])
        // Do not read: the server keeps sending until the buffer is full and the transfer pauses.
        try await waitFor("the transfer to pause") { response.body.transfer.state.withLock { $0.paused } }
        let buffered = response.body.transfer.state.withLock { $0.buffered }
        #expect(buffered <= 64 * 1024 + 16 * 1024 + 4096, "buffered \(buffered) bytes")
        let (_, stream) = try await readAll(response)
        #expect(stream.accumulator.finalMessages.last?.text == bigText)
    }

    @Test("cancelling the reading task aborts the transfer and leaks nothing")
    func cancellation() async throws {
        let harness = try ClientHarness(scenarios: ["asst_hold": Scenario(faults: [.stall(on: .create, afterFrames: 2, seconds: 90)])])
        defer { harness.server.stop() }
        let http = HTTPClient()
        let client = AssistantsClient(configuration: harness.client.configuration, http: http)
        let task = Task {
            let response = try await client.createThreadAndRun(["assistant_id": "asst_hold"])
            _ = try await readAll(response)
        }
        try await waitFor("the stream to start") { http.activeTransfers == 1 }
        let start = ContinuousClock.now
        task.cancel()
        _ = await task.result
        // The server holds the stream for 90 s: ending well before proves the cancellation aborted it.
        #expect(ContinuousClock.now - start < .seconds(80))
        try await waitFor("the transfer to be released") { http.activeTransfers == 0 }
    }

}

/// Many transfers open at once (past ``CurlMultiLoop/manyOpenTransfers`` new ones get a small receive buffer).
/// One after the other: each holds hundreds of sockets, and a test process past ~1,300 open descriptors trips
/// Foundation's `Process.run()` (it copies `/proc/self/fd` entries by value and can read past readdir's buffer).
@Suite("libcurl transfers, many at once", .serialized)
struct ManyTransfersTests {
    @Test("64 concurrent streams from one client all complete with every event")
    func concurrentStreams() async throws {
        let harness = try ClientHarness()
        defer { harness.server.stop() }
        // 64, not more: with the rest of the suite running beside it, the test process must stay well under the
        // ~1,300 descriptors past which Foundation's Process.run() can crash it.
        let count = 64
        let results = try await withThrowingTaskGroup(of: (Int, RunStatus?).self) { group in
            for _ in 0..<count {
                group.addTask {
                    let (events, stream) = try await readAll(try await harness.client.createThreadAndRun(["assistant_id": "asst_parallel"]))
                    return (events.count, stream.accumulator.finalRun?.status)
                }
            }
            var all: [(Int, RunStatus?)] = []
            for try await result in group { all.append(result) }
            return all
        }
        #expect(results.count == count)
        let expectedEvents = results.first?.0 ?? 0
        #expect(expectedEvents > 10)
        #expect(results.allSatisfy { $0.0 == expectedEvents && $0.1 == .requiresAction })
    }

    @Test("70 streams open at once (past the small-buffer threshold) each receive their exact bytes")
    func manyOpenStreams() async throws {
        let count = 70
        #expect(count > CurlMultiLoop.manyOpenTransfers)
        let arrived = Mutex(0)
        // Each response is 100 KB of bytes derived from its path, sent in uneven chunks once every request has
        // arrived: all `count` transfers are open in the client when the bytes start flowing.
        let server = try LoopbackHTTPServer { request, writer in
            arrived.withLock { $0 += 1 }
            let deadline = ContinuousClock.now + .seconds(60)
            while arrived.withLock({ $0 }) < count && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.005) }
            let index = Int(request.path.split(separator: "/").last ?? "") ?? 0
            let body = ManyTransfersTests.body(index)
            writer.startEventStream()
            var offset = 0
            var size = 1 + index * 37 % 9000
            while offset < body.count {
                let end = min(body.count, offset + size)
                writer.sendChunk(Array(body[offset..<end]))
                offset = end
                size = size * 7 % 20011 + 1
            }
            writer.endStream()
        }
        defer { server.stop() }
        let http = HTTPClient()
        let bodies = try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
            for index in 0..<count {
                group.addTask {
                    let request = HTTPRequest(method: .get, url: "http://127.0.0.1:\(server.port)/stream/\(index)")
                    let (head, body) = try await http.send(request)
                    #expect(head.status == 200)
                    return (index, body)
                }
            }
            var bodies: [Int: [UInt8]] = [:]
            for try await (index, body) in group { bodies[index] = body }
            return bodies
        }
        #expect(arrived.withLock { $0 } == count)
        for index in 0..<count {
            #expect(bodies[index] == Self.body(index), "stream \(index): \(bodies[index]?.count ?? -1) bytes")
        }
    }

    static func body(_ index: Int) -> [UInt8] {
        var state = UInt64(index + 1) &* 0x9E3779B97F4A7C15
        return (0..<100_000).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
    }
}
