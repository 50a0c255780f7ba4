import FakeAssistants
import Foundation
import Testing
@testable import Journal
@testable import Worker
import RunLoopCore

/// Budgets per run and per job (`--budget`): checked before every model request against what the journal holds;
/// reached, the loop ends `budget_exceeded` and no further request is sent.
@Suite("Budgets: a run or job stops before the request that would pass its budget")
struct BudgetTests {
    var environment: [String: String] { ["OPENAI_API_KEY": "sk-fake-test-key", "PATH": "/usr/bin:/bin"] }

    @Test("--budget is read key by key; anything else is refused with what is wrong")
    func parsing() throws {
        #expect(try Budget(parsing: "tokens=50000,cost=2.50,tool_calls=100,rounds=20,time=30m")
            == Budget(tokens: 50_000, cost: 2.5, toolCalls: 100, rounds: 20, time: .seconds(1800)))
        #expect(try Budget(parsing: " rounds = 3 ") == Budget(rounds: 3))
        let budget = try Budget(parsing: "tokens=10,time=2h")
        #expect(Budget(json: budget.json) == budget, "kept in the journal and read back after a restart")
        for (text, problem) in [
            ("tokens", "KEY=VALUE"), ("tokens=0", "above 0"), ("tokens=-3", "above 0"), ("tokens=1e9", "whole number"),
            ("cost=free", "amount"), ("cost=inf", "amount"), ("time=5", "duration"), ("colour=blue", "unknown key 'colour'"),
            ("rounds=1,rounds=2", "twice"), ("", "KEY=VALUE"), ("rounds=1,", "KEY=VALUE"), ("rounds=1,on_reach=maybe", "stop or ask"),
        ] {
            #expect(throws: BudgetError.self, "\(text)") { try Budget(parsing: text) }
            #expect((try? Budget(parsing: text)) == nil)
            do { _ = try Budget(parsing: text) } catch { #expect(error.description.contains(problem), "\(text): \(error)") }
        }
    }

    @Test("Assistants: a token budget stops the loop before the round whose request would pass it; nothing more is sent")
    func assistantsTokens() async throws {
        let h = try RunHarness()
        let marks = h.directory.path("marks")
        try h.handler("get_weather", "cat >/dev/null; echo ran >> \(marks); echo sunny")
        var request = RunRequest(assistantID: "asst_two_rounds", message: "go", protocolName: "assistants")
        request.budget = Budget(tokens: 50)
        let outcome = try await h.driverRun(request)
        #expect(outcome.status == .budgetExceeded)
        #expect(outcome.errorCode == "budget_exceeded")
        #expect(outcome.detail?.contains("token budget reached: 30 tokens used") == true, "\(outcome.detail ?? "")")
        #expect(outcome.rounds == 1)
        // Round 1 answered (its request's usage became known only with its submit); round 2 never: its handler did
        // not run and nothing was submitted for it.
        #expect(h.requests("POST", "/submit_tool_outputs").count == 1)
        #expect(try String(contentsOfFile: marks, encoding: .utf8) == "ran\n")
        let row = try await h.rows("SELECT status, error_code FROM run_history")
        #expect(row.first?.values == ["budget_exceeded", "budget_exceeded"])
    }

    @Test("Responses: the first response's reported usage stops the round before any handler runs")
    func responsesTokens() async throws {
        let h = try RunHarness()
        let marks = h.directory.path("marks")
        try h.handler("get_weather", "cat >/dev/null; echo ran >> \(marks); echo sunny")
        var request = RunRequest(assistantID: "", message: "go", protocolName: "responses", model: "asst_weather")
        request.budget = Budget(tokens: 100)
        let outcome = try await h.driverRun(request)
        #expect(outcome.status == .budgetExceeded)
        #expect(outcome.detail?.contains("62 tokens used") == true, "\(outcome.detail ?? "")")
        #expect(h.requests("POST", "/responses").count == 1, "no request after the budget was reached")
        #expect(!FileManager.default.fileExists(atPath: marks))
        // Within budget, the same loop completes.
        request.budget = Budget(tokens: 1_000)
        #expect(try await h.driverRun(request).status == .completed)
    }

    @Test("rounds, tool calls, cost and time budgets each stop the loop with their own reason")
    func otherLimits() async throws {
        let h = try RunHarness()
        h.prices = PriceTable(["gpt-4o": ModelPrice(input: 1_000_000, output: 1_000_000)])  // a dollar a token
        try h.handler("get_weather", "cat >/dev/null; echo sunny")
        func run(_ assistant: String, _ budget: Budget) async throws -> RunOutcome {
            var request = RunRequest(assistantID: assistant, message: "go", protocolName: "assistants")
            request.budget = budget
            return try await h.driverRun(request)
        }
        let rounds = try await run("asst_two_rounds", Budget(rounds: 1))
        #expect(rounds.status == .budgetExceeded && rounds.detail?.hasPrefix("round budget reached: 1 rounds answered of 1") == true)
        let calls = try await run("asst_parallel", Budget(toolCalls: 1))
        #expect(calls.status == .budgetExceeded && calls.rounds == 0 && calls.detail?.contains("2 asked for, of 1") == true, "\(calls.detail ?? "")")
        let cost = try await run("asst_two_rounds", Budget(cost: 10))
        #expect(cost.status == .budgetExceeded && cost.detail?.hasPrefix("cost budget reached: 30.0 spent of 10.0") == true, "\(cost.detail ?? "")")
        let time = try await run("asst_weather", Budget(time: .milliseconds(1)))
        #expect(time.status == .budgetExceeded && time.detail?.hasPrefix("time budget reached") == true)
        #expect(try await run("asst_two_rounds", Budget(tokens: 10_000, toolCalls: 2, rounds: 2)).status == .completed)
    }

    @Test("on_reach=ask: the loop waits for a person; approved, every limit grows by its amount and the loop goes on; denied, it stops")
    func ask() async throws {
        let h = try RunHarness()
        try h.handler("get_weather", "cat >/dev/null; echo sunny")
        var request = RunRequest(assistantID: "asst_two_rounds", message: "go", protocolName: "assistants")
        request.budget = try Budget(parsing: "rounds=1,on_reach=ask")
        #expect(request.budget?.onReach == .ask)
        func waitForRequest(_ id: String) async throws -> ApprovalRecord {
            for _ in 0..<2_000 {
                if let found = try await h.store.pendingApprovals().first(where: { $0.callID == id }) { return found }
                try await Task.sleep(for: .milliseconds(20))
            }
            throw CancellationError()
        }
        let driver = h.driver()
        let asking = request
        let approved = Task { try await driver.run(asking) }
        // Round 2 would pass rounds=1: a request to extend the budget waits, nothing is submitted for round 2 meanwhile.
        let first = try await waitForRequest("budget-1-1")
        #expect(first.tool == "toolworker.budget")
        #expect(first.arguments.contains("round budget reached: 1 rounds answered of 1"), "\(first.arguments)")
        #expect(h.requests("POST", "/submit_tool_outputs").count == 1)
        #expect(try await h.store.decideApproval(runKey: 1, callID: "budget-1-1", decision: .approved, by: "alice", reason: nil))
        let outcome = try await approved.value
        #expect(outcome.status == .completed, "\(outcome.detail ?? "")")
        #expect(h.requests("POST", "/submit_tool_outputs").count == 2)

        let denied = Task { try await driver.run(asking) }
        _ = try await waitForRequest("budget-2-1")
        #expect(try await h.store.decideApproval(runKey: 2, callID: "budget-2-1", decision: .denied, by: "bob", reason: "too costly"))
        let stopped = try await denied.value
        #expect(stopped.status == .budgetExceeded)
        #expect(stopped.detail == "budget extension denied by bob: too costly")
        #expect(h.requests("POST", "/submit_tool_outputs").count == 3, "the second run's round 2 was never submitted")
        let log = try await h.rows("SELECT call_id, tool, state, decided_by FROM approval_log ORDER BY call_id")
        #expect(log.map(\.values) == [
            ["budget-1-1", "toolworker.budget", "approved", "alice"], ["budget-2-1", "toolworker.budget", "denied", "bob"],
        ])
    }

    @Test("budgets.per_thread: the runs on one thread spend together; the next run on it is stopped before its start")
    func perThread() async throws {
        let h = try RunHarness()
        try h.handler("get_weather", "cat >/dev/null; echo sunny")
        var driver = h.driver()
        driver.threadBudget = Budget(tokens: 100)
        let first = try await driver.run(RunRequest(assistantID: "asst_weather", message: "go", protocolName: "assistants"))
        #expect(first.status == .completed)
        let thread = try #require(first.threadID)
        let runsBefore = h.requests("POST", "/runs").count
        let second = try await driver.run(RunRequest(assistantID: "asst_weather", threadID: thread, message: "again", protocolName: "assistants"))
        #expect(second.status == .budgetExceeded)
        #expect(second.detail?.hasPrefix("the thread's budget (budgets.per_thread, \(thread)): token budget reached: 92 tokens used") == true, "\(second.detail ?? "")")
        #expect(h.requests("POST", "/runs").count == runsBefore, "no request for the second run")
        // Another thread has its own budget.
        #expect(try await driver.run(RunRequest(assistantID: "asst_text", message: "go", protocolName: "assistants")).status == .completed)
    }

    @Test("budgets: in the configuration takes --budget's keys; a bad one is refused with its path")
    func budgetsConfiguration() throws {
        let config = try ConfigLoader.parse("tools: {}\nbudgets: { per_thread: { tokens: 200000, cost: 20, time: 2h, on_reach: ask } }\n", file: "/x.yaml")
        #expect(config.threadBudget == Budget(tokens: 200_000, cost: 20, time: .seconds(7200), onReach: .ask))
        for (yaml, path, message) in [
            ("budgets: { per_thread: { colour: blue } }", "budgets.per_thread.colour", "unknown key"),
            ("budgets: { per_thread: { tokens: 0 } }", "budgets.per_thread", "above 0"),
            ("budgets: { per_thread: { on_reach: ask } }", "budgets.per_thread", "sets no limit"),
            ("budgets: { weekly: { tokens: 5 } }", "budgets.weekly", "unknown key"),
            ("budgets: { daily: { rounds: 5 } }", "budgets.daily.rounds", "unknown key"),
        ] {
            #expect {
                try ConfigLoader.parse("tools: {}\n\(yaml)\n", file: "/x.yaml")
            } throws: { error in
                (error as? ConfigError)?.problems.contains { $0.path == path && $0.message.contains(message) } == true
            }
        }
    }

    @Test("run --budget exits 15 with the reason; a bad --budget exits 64 before anything is sent")
    func commandLine() async throws {
        let (dir, server, config) = try commandLineFixture()
        defer {
            server.stop()
            withExtendedLifetime(dir) {}
        }
        let toolworker = builtProduct("toolworker")
        let stopped = try await runCommand(
            toolworker, ["run", "--config", config, "--assistant", "asst_two_rounds", "--message", "go", "--budget", "rounds=1"], environment: environment)
        #expect(stopped.status == 15, "\(stopped.output) \(stopped.error)")
        #expect(stopped.output.contains("status: budget_exceeded"))
        #expect(stopped.output.contains("round budget reached"))
        let sentBefore = server.requests.count
        let bad = try await runCommand(
            toolworker, ["run", "--config", config, "--assistant", "asst_two_rounds", "--message", "go", "--budget", "tokens=lots"], environment: environment)
        #expect(bad.status == 64)
        #expect(bad.error.contains("--budget") && bad.error.contains("tokens takes a whole number"), "\(bad.error)")
        #expect(server.requests.count == sentBefore, "a refused --budget sends nothing")
    }

    @Test("a job whose budget asks waits across a kill -9 for the same request; toolworker approve lets it finish")
    func askAcrossKill() async throws {
        let h = try DaemonHarness()
        try h.writeConfig(tools: "  get_weather: { command: [\"/bin/true\"], timeout: 60s }")
        try h.start()
        let queued = try await runCommand(
            h.toolworker, ["enqueue", "--config", h.configPath, "--assistant", "asst_two_rounds", "--message", "go", "--budget", "rounds=1,on_reach=ask"],
            environment: h.environment)
        #expect(queued.status == 0, "\(queued.error)")
        try await h.waitUntil("the request to extend the budget") {
            try h.scalar("SELECT count(*) FROM approvals WHERE tool = 'toolworker.budget' AND decision IS NULL") == 1
        }
        let id = try #require(try h.query("SELECT call_id FROM approvals WHERE tool = 'toolworker.budget'").first?["call_id"].text)
        _ = try await h.stop(SIGKILL)
        try h.start()
        let listed = try await runCommand(h.toolworker, ["approvals", "--config", h.configPath], environment: h.environment)
        #expect(listed.output.contains(id) && listed.output.contains("toolworker.budget"), "\(listed.output)")
        let approve = try await runCommand(h.toolworker, ["approve", "--config", h.configPath, id], environment: h.environment)
        #expect(approve.status == 0, "\(approve.error)")
        try await h.waitUntil("the job to succeed") { try h.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'") == 1 }
        #expect(try h.scalar("SELECT count(*) FROM approvals WHERE tool = 'toolworker.budget'") == 1, "the same request after the restart")
        #expect(h.server.requests.filter { $0.path.hasSuffix("/submit_tool_outputs") }.count == 2)
        _ = try await h.stop()
    }

    @Test("a job's budget covers its attempts and survives a kill -9: the resumed run stops at the same limit")
    func jobAcrossKill() async throws {
        let h = try DaemonHarness()
        let started = h.directory.path("started")
        let release = h.directory.path("release")
        let handler = try h.script("weather.sh", """
            cat >/dev/null
            echo start >> \(started)
            while [ ! -f \(release) ]; do sleep 0.05; done
            echo sunny
            """)
        try h.writeConfig(tools: "  get_weather: { command: [\"\(handler)\"], timeout: 60s }")
        try h.start()
        let queued = try await runCommand(
            h.toolworker, ["enqueue", "--config", h.configPath, "--assistant", "asst_two_rounds", "--message", "go", "--budget", "rounds=1"],
            environment: h.environment)
        #expect(queued.status == 0, "\(queued.error)")
        let job = try #require(Int64(queued.output.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(try h.query("SELECT options FROM jobs WHERE id = ?", [.integer(job)]).first?["options"].text?.contains(#""budget":{"rounds":1}"#) == true)
        try await h.waitUntil("round 1's handler to start") { FileManager.default.fileExists(atPath: started) }
        _ = try await h.stop(SIGKILL)
        _ = FileManager.default.createFile(atPath: release, contents: nil)
        try h.start()
        try await h.waitUntil("the job to end") { try h.scalar("SELECT count(*) FROM jobs WHERE state IN ('succeeded','failed')") == 1 }
        let row = try #require(try h.query("SELECT state, last_error, attempts FROM jobs WHERE id = ?", [.integer(job)]).first)
        #expect(row["state"].text == "failed")
        #expect(row["last_error"].text?.contains("round budget reached: 1 rounds answered of 1") == true, "\(row["last_error"])")
        #expect(try h.scalar("SELECT count(*) FROM runs") == 1, "never retried: a budget is not a passing failure")
        #expect(try h.scalar("SELECT count(*) FROM run_history WHERE status = 'budget_exceeded' AND rounds = 1") == 1)
        #expect(h.server.requests.filter { $0.path.hasSuffix("/submit_tool_outputs") }.count == 1)
        _ = try await h.stop()
    }
}
