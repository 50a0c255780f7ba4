import Foundation
import Logging
import Testing
import RunLoopCore

/// The driver's decisions with the protocol in memory (``MemoryBackend``): no server, no libcurl; a real journal and
/// real handlers.
@Suite("The driver's decisions, with an in-memory backend")
struct MemoryBackendTests {
    func driver(_ backend: MemoryBackend, _ dir: TempDirectory, store: AuditStore) throws -> RunDriver {
        let script = dir.path("echo.sh")
        try "#!/bin/sh\nread args; printf 'got %s' \"$args\"\n".writeScript(toFile: script)
        chmod(script, 0o755)
        return RunDriver(
            backends: [backend], journal: store,
            dispatcher: ToolDispatcher(registry: ToolRegistry([ToolHandlerConfig(name: "echo", command: [script])]), maxConcurrentCalls: 4),
            policy: .lifecycle, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
    }

    @Test("two rounds: every call answered, outputs submitted in the order of the calls, the loop completes")
    func twoRounds() async throws {
        let dir = TempDirectory()
        let store = try AuditStore(path: dir.path("audit.db"))
        defer { store.close() }
        let backend = MemoryBackend(script: [
            .calls([ToolCall(id: "a", name: "echo", arguments: #"{"n":1}"#), ToolCall(id: "b", name: "echo", arguments: #"{"n":2}"#)]),
            .calls([ToolCall(id: "c", name: "nope", arguments: "{}")]),
            .text("done"),
        ])
        let outcome = try await driver(backend, dir, store: store).run(RunRequest(assistantID: "", message: "go", protocolName: "memory"))
        #expect(outcome.status == .completed && outcome.rounds == 2 && outcome.finalText == "done", "\(outcome)")
        let submitted = backend.log.submitted.withLock { $0 }
        #expect(submitted.map { $0.map(\.toolCallID) } == [["a", "b"], ["c"]])
        #expect(submitted[0].map(\.output) == [#"got {"n":1}"#, #"got {"n":2}"#])
        #expect(submitted[1][0].output.contains("unknown_tool"), "an unregistered tool is answered, not run")
    }

    @Test("a definite refusal of a submit ends the round at once when the protocol says so; otherwise it reconciles")
    func refusal() async throws {
        for final in [true, false] {
            let dir = TempDirectory()
            let store = try AuditStore(path: dir.path("audit.db"))
            defer { store.close() }
            var backend = MemoryBackend(script: [
                .calls([ToolCall(id: "a", name: "echo", arguments: "{}")]), .failure(LoopError(.http(status: 400), message: "no")),
            ])
            backend.refusalIsFinal = final
            var driving = try driver(backend, dir, store: store)
            driving.schedule.maxPollInterval = .milliseconds(10)
            let outcome = try await driving.run(RunRequest(assistantID: "", message: "go", protocolName: "memory"))
            if final {
                #expect(outcome.errorCode == "submit_refused", "\(outcome)")
                #expect(backend.log.retrieves.load(ordering: .relaxed) == 0)
            } else {
                #expect(backend.log.retrieves.load(ordering: .relaxed) > 0, "reconciled: \(outcome)")
            }
        }
    }

    @Test("with an injected clock: a loop that works for ever is polled with back-off and given up after poll_past_expiry, without sleeping")
    func pollingOnAManualClock() async throws {
        let dir = TempDirectory()
        let store = try AuditStore(path: dir.path("audit.db"))
        defer { store.close() }
        let backend = MemoryBackend(script: [.working])
        let clock = ManualClock()
        var driving = try driver(backend, dir, store: store)
        driving.clock = clock
        let outcome = try await driving.run(RunRequest(assistantID: "", message: "go", protocolName: "memory"))
        #expect(outcome.errorCode == "lost_run" && outcome.detail?.contains("600 s of polling") == true, "\(outcome)")
        let sleeps = clock.sleeps.withLock { $0 }
        // 250 ms doubling to the 5 s ceiling, then 5 s polls until 600 s of (manual) time have passed.
        #expect(Array(sleeps.prefix(6)) == [.milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(5)])
        #expect(clock.time > .seconds(600) && clock.time < .seconds(610), "\(clock.time)")
        #expect(backend.log.retrieves.load(ordering: .relaxed) == sleeps.count + 1)
        // One journal note for the reconciliation, not one per poll.
        let notes = try await store.read { try $0.query("SELECT count(*) AS n FROM event_log WHERE event = 'toolworker.reconciled'", []) }
        #expect(notes.first?["n"].int == 1)
    }
}
