import FakeAssistants
import Foundation
import Testing
import RunLoopCore

extension SerialSuites {
/// The model's shell actions (`shell_call`, `local_shell_call`): refused unless a shell is configured, confined to its
/// folder, within its time-out (the whole process group stopped) and output cap, answered in the API's shapes.
@Suite("Responses API: shell calls", .serialized)
struct ShellToolTests {

    @Test("without a shell: section, a shell call is refused (answered as a failed command), nothing runs")
    func refusedWhenNotConfigured() async throws {
        let h = try RunHarness(scenarios: ["sh": Scenario(rounds: [[.shell(["commands": ["touch ran"]])]])])
        let outcome = try await h.respond("sh")
        #expect(outcome.status == .completed, "\(outcome)")
        let answer = try #require(h.submittedInputs().first)
        #expect(answer["type"] == "shell_call_output")
        #expect(answer["output"]?[0]?["outcome"]?["exit_code"] == 126)
        #expect(answer["output"]?[0]?["stderr"]?.stringValue?.contains("No handler is registered") == true, "\(answer)")
        #expect(!FileManager.default.fileExists(atPath: FileManager.default.currentDirectoryPath + "/ran"))
    }

    @Test("commands run in order in the configured folder; stdout, stderr and each exit code come back; the journal has it")
    func commands() async throws {
        let h = try RunHarness(scenarios: ["sh": Scenario(rounds: [[.shell(["commands": ["echo hi", "pwd", "echo oops >&2; exit 3"]])]])])
        let work = h.directory.path("work")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        h.shell = ShellToolConfig(workingDirectory: work)
        let outcome = try await h.respond("sh")
        #expect(outcome.status == .completed, "\(outcome)")
        #expect(h.requests("POST", "/responses").first?.json?["tools"]?[0] == ["type": "shell"])
        let chunks = try #require(h.submittedInputs().first?["output"]?.arrayValue)
        #expect(chunks.count == 3)
        #expect(chunks[0]["stdout"] == "hi\n")
        #expect(chunks[1]["stdout"]?.stringValue?.trimmingCharacters(in: .newlines) == URL(fileURLWithPath: work).resolvingSymlinksInPath().path)
        #expect(chunks[2]["stderr"] == "oops\n")
        #expect(chunks[2]["outcome"] == ["type": "exit", "exit_code": 3])
        let call = try #require(try await h.rows("SELECT tool, state, handler FROM tool_call_log").first)
        #expect(call["tool"].text == "shell" && call["state"].text == "succeeded")
        #expect(call["handler"].text?.contains(work) == true)
    }

    @Test("a time-out stops the whole process group, a background child included, and says timeout")
    func timeout() async throws {
        let h = try RunHarness(scenarios: ["sh": Scenario(rounds: [[.shell(["commands": ["sleep 30 & echo $! > child.pid; wait"], "timeout_ms": 500])]])])
        let work = h.directory.path("work")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        h.shell = ShellToolConfig(workingDirectory: work)
        let outcome = try await h.respond("sh")
        #expect(outcome.status == .completed, "\(outcome)")
        let chunks = try #require(h.submittedInputs().first?["output"]?.arrayValue)
        #expect(chunks.last?["outcome"] == ["type": "timeout"])
        let pid = try #require(Int32(try String(contentsOfFile: work + "/child.pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        try await waitFor("the background child to be gone") { kill(pid, 0) != 0 }
        #expect(try await h.rows("SELECT state FROM tool_call_log").first?["state"].text == "timed_out")
    }

    @Test("output past the cap is cut and marked")
    func outputCap() async throws {
        let h = try RunHarness(scenarios: ["sh": Scenario(rounds: [[.shell(["commands": ["head -c 5000 /dev/zero | tr '\\0' x"], "max_output_length": 100])]])])
        let work = h.directory.path("work")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        h.shell = ShellToolConfig(workingDirectory: work)
        _ = try await h.respond("sh")
        let stdout = try #require(h.submittedInputs().first?["output"]?[0]?["stdout"]?.stringValue)
        #expect(stdout.hasPrefix(String(repeating: "x", count: 100)))
        #expect(stdout.contains("[ToolWorker: output truncated at 100 bytes]"))
    }

    @Test("local_shell: one argv, in a folder inside the configured one; a folder outside it is refused")
    func localShell() async throws {
        let h = try RunHarness(scenarios: ["sh": Scenario(rounds: [[
            .shell(["type": "exec", "command": ["pwd"], "working_directory": "sub"], local: true),
            .shell(["type": "exec", "command": ["touch", "escaped"], "working_directory": "../"], local: true),
        ]])])
        let work = h.directory.path("work")
        try FileManager.default.createDirectory(atPath: work + "/sub", withIntermediateDirectories: true)
        var shell = ShellToolConfig(workingDirectory: work)
        shell.kind = .localShell
        h.shell = shell
        let outcome = try await h.respond("sh")
        #expect(outcome.status == .completed, "\(outcome)")
        let outputs = h.submittedInputs()
        #expect(outputs.count == 2)
        #expect(outputs.allSatisfy { $0["type"] == "local_shell_call_output" && $0["id"] != nil })
        let first = try JSONValue(parsing: outputs[0]["output"]?.stringValue ?? "")
        #expect(first["output"]?.stringValue?.trimmingCharacters(in: .newlines) == URL(fileURLWithPath: work + "/sub").resolvingSymlinksInPath().path)
        #expect(first["metadata"]?["exit_code"] == 0)
        #expect(outputs[1]["output"]?.stringValue?.contains("outside") == true, "\(outputs[1])")
        #expect(!FileManager.default.fileExists(atPath: h.directory.path("escaped")))
    }
}
}
