import FakeAssistants
import Foundation
import Testing
@testable import RunLoopCore

@Suite("The toolworker command line")
struct CommandLineTests {
    let toolworker = builtProduct("toolworker")

    func setUp() throws -> (TempDirectory, FakeAssistantsServer, String) {
        let dir = TempDirectory()
        let server = try FakeAssistantsServer()
        let handler = dir.path("weather.sh")
        try "#!/bin/sh\ncat >/dev/null\necho sunny\n".write(toFile: handler, atomically: true, encoding: .utf8)
        chmod(handler, 0o755)
        let config = dir.path("toolworker.yaml")
        try """
            api: { base_url: "\(server.baseURL)" }
            database: tw.db
            tools:
              get_weather: { command: ["weather.sh"], timeout: 5s }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        return (dir, server, config)
    }

    var environment: [String: String] { ["OPENAI_API_KEY": "sk-fake-test-key", "PATH": "/usr/bin:/bin"] }

    @Test("run prints the run id and final status; exit status follows the outcome")
    func run() throws {
        let (dir, server, config) = try setUp()
        defer { server.stop() }
        let ok = try runCommand(toolworker, ["run", "--config", config, "--assistant", "asst_weather", "--message", "hi", "--metadata", "k=v"], environment: environment)
        #expect(ok.status == 0, "\(ok.error)")
        #expect(ok.output.contains("status: completed"))
        #expect(ok.output.contains("answer: get_weather: sunny"))
        let runID = try #require(ok.output.split(separator: "\n").first { $0.hasPrefix("run: ") }?.dropFirst(5))
        #expect(runID.hasPrefix("run_"))
        #expect(ok.error.contains("run ended"), "logs go to stderr")
        #expect(!ok.error.contains("sk-fake-test-key"), "the key is never logged")

        let failed = try runCommand(toolworker, ["run", "--config", config, "--assistant", "asst_failed", "--message", "hi"], environment: environment)
        #expect(failed.status == 10)
        #expect(failed.output.contains("status: failed"))

        let history = try runCommand("/usr/bin/sqlite3", ["-readonly", dir.path("tw.db"), "SELECT status FROM run_history ORDER BY run_key"])
        #expect(history.output == "completed\nfailed\n")

        let show = try runCommand(toolworker, ["show", "--config", config, String(runID), "--json"], environment: environment)
        #expect(show.status == 0)
        let shown = try JSONValue(parsing: show.output.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(shown[path: "run.status"] == "completed")
        #expect(shown[path: "tool_calls.0.tool"] == "get_weather")
    }

    @Test("usage and configuration errors have their own exit statuses and clear messages")
    func errors() throws {
        let (dir, server, config) = try setUp()
        defer { server.stop() }
        let usage = try runCommand(toolworker, ["run", "--config", config, "--assistant", "a"], environment: environment)
        #expect(usage.status == 64)
        #expect(usage.error.contains("--thread ID or --message TEXT"))
        let broken = dir.path("broken.yaml")
        try "tools:\n  x: { command: [\"/nonexistent\"] }\n".write(toFile: broken, atomically: true, encoding: .utf8)
        let bad = try runCommand(toolworker, ["check-config", "--config", broken], environment: environment)
        #expect(bad.status == 78)
        #expect(bad.error.contains("tools.x.command: handler /nonexistent does not exist"))
        let noKey = try runCommand(toolworker, ["run", "--config", config, "--assistant", "a", "--message", "m"], environment: ["PATH": "/usr/bin:/bin"])
        #expect(noKey.status == 78)
        #expect(noKey.error.contains("OPENAI_API_KEY"))
        let good = try runCommand(toolworker, ["check-config", "--config", config], environment: environment)
        #expect(good.status == 0)
        #expect(good.output.contains("tools: get_weather"))
    }
}
