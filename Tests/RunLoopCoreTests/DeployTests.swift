import Foundation
import Testing

@Suite("deploy/")
struct DeployTests {
    static let deploy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("deploy")

    @Test("systemd-analyze verify accepts the unit (with the built toolworker as ExecStart)")
    func unitVerifies() async throws {
        let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let tool = try #require(analyze, "systemd-analyze is missing: scripts/test.sh installs Debian's systemd package")
        let dir = TempDirectory()
        var unit = try String(contentsOf: Self.deploy.appendingPathComponent("toolworker.service"), encoding: .utf8)
        #expect(unit.contains("Type=notify"))
        #expect(unit.contains("User=toolworker"))
        #expect(unit.contains("LoadCredential="))
        #expect(unit.contains("ProtectSystem=strict"))
        #expect(unit.contains("SystemCallFilter=@system-service"))
        unit = unit.replacingOccurrences(of: "/usr/bin/toolworker", with: builtProduct("toolworker"))
        let path = dir.path("toolworker.service")
        try unit.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try await runCommand(tool, ["verify", path])
        #expect(result.status == 0, "\(result.output)\(result.error)")
        #expect(!result.error.contains("toolworker.service:"), "\(result.error)")
    }

    @Test("the example configuration loads, given its handler paths")
    func exampleConfig() async throws {
        let dir = TempDirectory()
        var yaml = try String(contentsOf: Self.deploy.appendingPathComponent("toolworker.yaml"), encoding: .utf8)
        yaml = yaml.replacingOccurrences(of: "\"tools/get_weather.sh\"", with: "\"\(Self.deploy.appendingPathComponent("tools/get_weather.sh").path)\"")
        yaml = yaml.replacingOccurrences(of: "/run/credentials/toolworker.service/openai-api-key", with: dir.path("key"))
        // check-config refuses a database folder that does not exist, as serve does: point it at the test's own.
        yaml = yaml.replacingOccurrences(of: "/var/lib/toolworker/toolworker.db", with: dir.path("toolworker.db"))
        let path = dir.path("toolworker.yaml")
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try await runCommand(builtProduct("toolworker"), ["check-config", "--config", path])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("tools: get_weather"))
    }

    @Test("the example handler follows the contract")
    func exampleHandler() async throws {
        let handler = Self.deploy.appendingPathComponent("tools/get_weather.sh").path
        let ok = try await runCommand(handler, [], input: #"{"city":"Paris"}"#, environment: ["UNITS": "metric", "PATH": "/usr/bin:/bin"])
        #expect(ok.status == 0)
        #expect(ok.output.hasPrefix(#"{"city":"Paris","temperature":"#))
        let bad = try await runCommand(handler, [], input: "{}", environment: ["PATH": "/usr/bin:/bin"])
        #expect(bad.status == 2)
        #expect(bad.error.contains("missing \"city\""))
    }
}
