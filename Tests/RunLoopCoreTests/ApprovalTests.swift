import FakeAssistants
import Foundation
import Testing
import RunLoopCore

extension SerialSuites {
/// Durable approvals: a call whose tool asks for it waits in the journal for `toolworker approve` / `deny`; never run
/// without a decision, never decided twice, expired past the run's deadline, still pending after a restart.
@Suite("Durable approvals", .serialized)
struct ApprovalTests {
    let toolworker = builtProduct("toolworker")

    func config(_ h: RunHarness) throws -> String {
        let path = h.directory.path("c.yaml")
        try "api: { base_url: \"\(h.server.baseURL)\" }\ntools: {}\ndatabase: \(h.directory.path("audit.db"))\n".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    var environment: [String: String] { ["OPENAI_API_KEY": "sk-unused", "PATH": "/usr/bin:/bin"] }

    func pendingCall(_ h: RunHarness) async throws -> String {
        var call: String?
        try await waitForAsync("a call to await approval") {
            call = try await h.rows("SELECT call_id FROM approval_log WHERE state = 'awaiting_approval'").first?["call_id"].text
            return call != nil
        }
        return call!
    }

    @Test("approve: the call waits, runs once approved, and the journal says who decided")
    func approve() async throws {
        let h = try RunHarness(scenarios: ["pay": Scenario(rounds: [[ScriptedToolCall("pay", #"{"amount":500}"#)]])])
        let ledger = h.directory.path("ledger")
        try h.handler("pay", "cat >> '\(ledger)'; echo >> '\(ledger)'; printf 'paid'") { $0.approval = .always }
        let driver = h.driver()
        let running = Task { try await driver.run(RunRequest(assistantID: "", message: "pay", protocolName: "responses", model: "pay")) }
        let call = try await pendingCall(h)
        #expect(!FileManager.default.fileExists(atPath: ledger), "nothing runs before the decision")
        let listed = try await runCommand(toolworker, ["approvals", "--config", try config(h), "--json"], environment: environment)
        #expect(listed.output.contains(call) && listed.output.contains("amount"), "\(listed)")
        let approve = try await runCommand(toolworker, ["approve", call, "--config", try config(h)], environment: environment)
        #expect(approve.status == 0, "\(approve)")
        let outcome = try await running.value
        #expect(outcome.status == .completed, "\(outcome)")
        #expect(try String(contentsOfFile: ledger, encoding: .utf8) == "{\"amount\":500}\n", "ran exactly once")
        let row = try #require(try await h.rows("SELECT state, decided_by FROM approval_log").first)
        #expect(row["state"].text == "approved")
        #expect(row["decided_by"].text?.isEmpty == false)
        let again = try await runCommand(toolworker, ["deny", call, "--reason", "late", "--config", try config(h)], environment: environment)
        #expect(again.status == 64, "nothing pending any more: \(again)")
    }

    @Test("approval_notify: the program gets the new request as JSON on stdin, once; it decides nothing")
    func notify() async throws {
        let h = try RunHarness(scenarios: ["pay": Scenario(rounds: [[ScriptedToolCall("pay", #"{"amount":70}"#)]])])
        let told = h.directory.path("told")
        try h.handler("pay", "cat >/dev/null; printf paid") { $0.approval = .always }
        let notifier = h.directory.path("notify.sh")
        try "#!/bin/sh\ncat >> '\(told)'\necho >> '\(told)'\n".writeScript(toFile: notifier)
        chmod(notifier, 0o755)
        var driver = h.driver()
        driver.approvalNotifier = ApprovalNotifier(command: [notifier])
        let running = Task { try await driver.run(RunRequest(assistantID: "", message: "pay", protocolName: "responses", model: "pay")) }
        let call = try await pendingCall(h)
        try await waitFor("the notifier to be told") { (try? String(contentsOfFile: told, encoding: .utf8))?.hasSuffix("\n") == true }
        let lines = try String(contentsOfFile: told, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 1)
        let request = try JSONValue(parsing: String(lines[0]))
        #expect(request["calls"]?[0]?["call_id"]?.stringValue == call)
        #expect(request["calls"]?[0]?["tool"] == "pay")
        #expect(request["calls"]?[0]?["arguments"] == #"{"amount":70}"#)
        #expect(request["run_id"]?.stringValue?.isEmpty == false)
        #expect(try await h.rows("SELECT state FROM approval_log").first?["state"].text == "awaiting_approval", "being told decides nothing")
        let approve = try await runCommand(toolworker, ["approve", call, "--config", try config(h)], environment: environment)
        #expect(approve.status == 0, "\(approve)")
        #expect(try await running.value.status == .completed)
        #expect(try String(contentsOfFile: told, encoding: .utf8).split(separator: "\n").count == 1, "told once")
    }

    @Test("deny: never run; the model is told who said no and why")
    func deny() async throws {
        let h = try RunHarness(scenarios: ["pay": Scenario(rounds: [[ScriptedToolCall("pay", #"{"amount":9000}"#)]])])
        let ledger = h.directory.path("ledger")
        try h.handler("pay", "cat >> '\(ledger)'; printf 'paid'") { $0.approval = .when(["amount": 9000]) }
        let driver = h.driver()
        let running = Task { try await driver.run(RunRequest(assistantID: "", message: "pay", protocolName: "responses", model: "pay")) }
        let call = try await pendingCall(h)
        let noReason = try await runCommand(toolworker, ["deny", call, "--config", try config(h)], environment: environment)
        #expect(noReason.status == 64)
        let deny = try await runCommand(toolworker, ["deny", call, "--reason", "too much", "--config", try config(h)], environment: environment)
        #expect(deny.status == 0, "\(deny)")
        let outcome = try await running.value
        #expect(outcome.status == .completed, "\(outcome)")
        #expect(!FileManager.default.fileExists(atPath: ledger))
        let answer = h.requests("POST", "/responses").compactMap(\.json)[1]["input"]?[0]?["output"]?.stringValue ?? ""
        #expect(answer.contains("denied") && answer.contains("too much"), "\(answer)")
        #expect(try await h.rows("SELECT state FROM tool_call_log").first?["state"].text == "failed")
    }

    @Test("a rule that does not match runs at once; one that matches waits")
    func rule() {
        let rule = ApprovalRule.when(["amount": 9000, "to": "*"])
        #expect(!rule.requiresApproval(#"{"amount":10}"#))
        #expect(!rule.requiresApproval(#"{"amount":9000}"#), "every member must be there")
        #expect(rule.requiresApproval(#"{"amount":9000,"to":"x"}"#))
        #expect(!rule.requiresApproval("not json"))
    }

    @Test("no decision before the run's expires_at: expired, answered, never run")
    func expire() async throws {
        let h = try RunHarness(scenarios: ["asst_pay": Scenario(rounds: [[ScriptedToolCall("pay", "{}")]], expiresAfter: 7)])
        let ledger = h.directory.path("ledger")
        try h.handler("pay", "touch '\(ledger)'; printf 'paid'") { $0.approval = .always }
        let outcome = try await h.run("asst_pay")
        #expect(!FileManager.default.fileExists(atPath: ledger))
        let row = try #require(try await h.rows("SELECT state, decided_by FROM approval_log").first)
        #expect(row["state"].text == "expired" && row["decided_by"].text == "toolworker", "\(outcome)")
        let call = try #require(try await h.rows("SELECT state, output FROM tool_call_log").first)
        #expect(call["output"].text?.contains("in time") == true, "\(call["output"].text ?? "")")
    }

    @Test("a restart while pending: still pending, then approved once, run once")
    func restartWhilePending() async throws {
        let h = try RunHarness(scenarios: ["pay": Scenario(rounds: [[ScriptedToolCall("pay", "{}")]])])
        let ledger = h.directory.path("ledger")
        try h.handler("pay", "echo ran >> '\(ledger)'; printf 'paid'") { $0.approval = .always }
        let driver = h.driver()
        let first = Task { try await driver.run(RunRequest(assistantID: "", message: "pay", protocolName: "responses", model: "pay")) }
        let call = try await pendingCall(h)
        first.cancel()  // as a crash would: nothing decided, the run open
        _ = try? await first.value
        let key = try #require(try await h.rows("SELECT id FROM runs WHERE ended_at IS NULL").first?["id"].int)
        let record = try #require(try await h.store.run(key: key))
        let resumed = Task { try await driver.resume(record) }
        // The handshake: the resumed drive notes that it waits again (a second toolworker.awaiting_approval row).
        try await waitForAsync("the resumed drive to wait for the same decision") {
            try await h.rows("SELECT count(*) AS n FROM event_log WHERE event = 'toolworker.awaiting_approval'").first?["n"].int == 2
        }
        #expect(try await h.rows("SELECT state FROM approval_log").first?["state"].text == "awaiting_approval")
        let approve = try await runCommand(toolworker, ["approve", call, "--config", try config(h)], environment: environment)
        #expect(approve.status == 0, "\(approve)")
        let outcome = try await resumed.value
        #expect(outcome.status == .completed, "\(outcome)")
        #expect(try String(contentsOfFile: ledger, encoding: .utf8) == "ran\n")
        #expect(try await h.rows("SELECT count(*) AS n FROM approvals").first?["n"].int == 1, "one request, not two")
    }
}
}
