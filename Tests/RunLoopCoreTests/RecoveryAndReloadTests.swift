import FakeAssistants
import Foundation
import Testing
import RunLoopCore

extension SerialSuites {
@Suite("A full disk strands nothing; a reload changes the tools offered and the tools run together", .serialized)
struct RecoveryAndReloadTests {
    @Test("a full disk mid-run: once the journal takes writes again, the job is taken back and finished, without a restart")
    func diskFullRecovery() async throws {
        let owner = LeaseOwner(id: "test:1:diskfull", expiry: .milliseconds(600))
        let h = try RunHarness(
            scenarios: ["asst_big": Scenario(finalText: String(repeating: "x", count: 400_000), deltaPieces: 40)], leaseOwner: owner)
        let job = try await h.store.enqueueJob(assistantID: "asst_big", threadID: nil, message: "go", instructions: nil, metadata: nil)
        let pages = try await h.store.write { db in try db.scalar("PRAGMA page_count").int ?? 0 }
        // The claim and the run's row fit; the answer's 10 KB deltas do not.
        try await h.store.write { db in try db.execute("PRAGMA max_page_count = \(pages + 8)") }
        var configuration = JobScheduler.Configuration()
        configuration.heartbeat = .milliseconds(100)
        configuration.pollInterval = .milliseconds(50)
        configuration.idlePollInterval = .milliseconds(100)
        let scheduler = JobScheduler(
            configuration: configuration, driver: h.driver(), store: h.store, notifier: SystemdNotifier(environment: [:]), shutdown: ShutdownSignal())
        let running = Task { try await scheduler.run() }
        defer { running.cancel() }
        // The drive failed on the full journal: the job is still `running`, nothing drives it.
        try await waitForAsync("the drive to fail on the full journal", timeout: .seconds(60)) {
            let runs = try await h.rows("SELECT count(*) AS n FROM runs WHERE job_id = ?", [.integer(job)]).first?["n"].int ?? 0
            let state = try await h.store.job(id: job)?.state
            return runs == 1 && state == .running && scheduler.statusLine(queued: 0).hasPrefix("0 runs active")
        }
        // A write may first report a queued write that failed (the store's sticky error): lift until it takes.
        try await waitForAsync("the limit to be lifted") {
            try await h.store.write { db in try db.execute("PRAGMA max_page_count = 1073741823") }
            return true
        }
        try await waitForAsync("the job to be taken back and finished", timeout: .seconds(60)) {
            try await h.store.job(id: job)?.state == .succeeded
        }
        let history = try await h.rows("SELECT status, ended FROM run_history")
        #expect(history.count == 1, "the same run was resumed, not a second one started")
        #expect(history.first?["status"].text == "completed")
        scheduler.shutdown.trigger()
        _ = try? await running.value
    }

    @Test("a job of a protocol no backend registered (the schema no longer refuses it) fails with the reason, no request sent, and the daemon goes on")
    func unregisteredProtocolJob() async throws {
        let h = try RunHarness()
        let unknown = try await h.store.enqueueJob(
            assistantID: "asst_text", threadID: nil, message: "go", instructions: nil, metadata: nil, maxAttempts: 1, protocolName: "smoke-signals")
        var configuration = JobScheduler.Configuration()
        configuration.pollInterval = .milliseconds(20)
        configuration.idlePollInterval = .milliseconds(50)
        let scheduler = JobScheduler(
            configuration: configuration, driver: h.driver(), store: h.store, notifier: SystemdNotifier(environment: [:]), shutdown: ShutdownSignal())
        let running = Task { try await scheduler.run() }
        defer { running.cancel() }
        try await waitForAsync("the job to end", timeout: .seconds(60)) { try await h.store.job(id: unknown)?.state.isFinal == true }
        #expect(try await h.store.job(id: unknown)?.state == .failed)
        let failed = try await h.rows("SELECT status, error_message FROM run_history WHERE protocol = 'smoke-signals'")
        #expect(failed.first?["error_message"].text?.contains("not set up for protocol 'smoke-signals'") == true, "\(failed)")
        #expect(h.server.requests.isEmpty, "nothing was sent for it")
        let known = try await h.store.enqueueJob(assistantID: "asst_text", threadID: nil, message: "go", instructions: nil, metadata: nil)
        try await waitForAsync("the next job to succeed", timeout: .seconds(60)) { try await h.store.job(id: known)?.state == .succeeded }
        scheduler.shutdown.trigger()
        _ = try? await running.value
    }

    @Test("after a reload, the tools offered to the model are the tools dispatched (Responses)")
    func reloadOffersNewTools() async throws {
        let h = try RunHarness()
        try h.handler("get_weather", "read args; printf 'old'") { $0.description = "old weather" }
        let scheduler = JobScheduler(
            configuration: JobScheduler.Configuration(), driver: h.driver(), store: h.store, notifier: SystemdNotifier(environment: [:]),
            shutdown: ShutdownSignal())
        var renamed = h.tools[0]
        renamed.description = "new weather"
        var extra = h.tools[0]
        extra.name = "get_time"
        scheduler.replaceRegistry(ToolRegistry([renamed, extra]))
        let driver = scheduler.driver
        let outcome = try await driver.run(RunRequest(assistantID: "", message: "hi", protocolName: "responses", model: "asst_weather"))
        #expect(outcome.status == .completed, "\(outcome)")
        let tools = h.requests("POST", "/responses").first?.json?["tools"]?.arrayValue ?? []
        #expect(tools.compactMap { $0["name"]?.stringValue } == ["get_weather", "get_time"])
        #expect(tools.first?["description"] == "new weather")
    }
}
}
