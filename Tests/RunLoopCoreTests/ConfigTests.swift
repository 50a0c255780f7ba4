import Foundation
import Testing
@testable import AssistantsAPI
@testable import OpenAIClient
@testable import AssistantsBackend
@testable import HTTPTransport
@testable import Journal
import RunLoopCore
@testable import Worker

@Suite("Configuration")
struct ConfigTests {
    func write(_ dir: TempDirectory, _ yaml: String) throws -> String {
        let path = dir.path("toolworker.yaml")
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func script(_ dir: TempDirectory, _ name: String, mode: mode_t = 0o755) throws -> String {
        let path = dir.path(name)
        try "#!/bin/sh\necho ok\n".writeScript(toFile: path)
        chmod(path, mode)
        return path
    }

    @Test("the documented example keys load, with defaults and relative paths resolved")
    func full() throws {
        let dir = TempDirectory()
        _ = try script(dir, "weather.sh")
        let path = try write(dir, """
            api:
              base_url: http://127.0.0.1:9/v1
              api_key_env: MY_KEY
              idle_timeout: 45s
            database: data/tw.db
            snapshots: all
            concurrency: { runs: 8, tool_calls: 4 }
            tools:
              get_weather:
                command: ["weather.sh", "--fast"]
                timeout: 1500ms
                max_output_bytes: 1024
                env: { UNITS: metric }
                working_directory: .
                on_restart: fail
                description: "Weather"
                parameters: { type: object, properties: { city: { type: string } }, required: [city] }
            """)
        let config = try ConfigLoader.load(file: path, environment: [:])
        #expect(config.api.baseURL == "http://127.0.0.1:9/v1")
        #expect(config.api.idleTimeout == .seconds(45))
        #expect(config.database == dir.path("data/tw.db"))
        #expect(config.snapshots == .all)
        #expect(config.concurrency.runs == 8 && config.concurrency.toolCalls == 4)
        let tool = try #require((ToolRegistry(config.tools).executor(for: "get_weather") as? ShellToolExecutor)?.configuration)
        #expect(tool.command == [dir.path("weather.sh"), "--fast"])
        #expect(tool.timeout == .milliseconds(1500))
        #expect(tool.maxOutputBytes == 1024)
        #expect(tool.environment == ["UNITS": "metric"])
        #expect(tool.onRestart == .fail)
        #expect(tool.parameters?[path: "required.0"] == "city")
        #expect(tool.functionDefinition[path: "function.name"] == "get_weather")
        let client = try config.clientConfiguration(environment: ["MY_KEY": "k1"])
        #expect(client.apiKey == "k1")
        #expect(client.baseURL == "http://127.0.0.1:9/v1")
    }

    @Test("base URL falls back to OPENAI_BASE_URL, then the public default; a missing key is a clear error")
    func apiDefaults() throws {
        let config = try ConfigLoader.parse("tools: {}", file: "/x.yaml")
        #expect(try config.clientConfiguration(environment: ["OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://h/v1"]).baseURL == "http://h/v1")
        #expect(try config.clientConfiguration(environment: ["OPENAI_API_KEY": "k"]).baseURL == "https://api.openai.com/v1")
        #expect { try config.clientConfiguration(environment: [:]) } throws: { error in
            (error as? ConfigError)?.description.contains("OPENAI_API_KEY") == true
        }
    }

    @Test("database_durability: full by default, normal on request, anything else or on PostgreSQL refused with its key")
    func databaseDurability() throws {
        #expect(try ConfigLoader.parse("tools: {}", file: "/x.yaml").databaseDurability == .full)
        #expect(try ConfigLoader.parse("tools: {}\ndatabase_durability: normal", file: "/x.yaml").databaseDurability == .normal)
        #expect { try ConfigLoader.parse("tools: {}\ndatabase_durability: fsync", file: "/x.yaml") } throws: { error in
            (error as? ConfigError)?.problems.contains { $0.path == "database_durability" && $0.message.contains("full or normal") } == true
        }
        #expect {
            try ConfigLoader.parse("tools: {}\ndatabase: postgres://tw@127.0.0.1/tw\ndatabase_durability: normal", file: "/x.yaml")
        } throws: { error in
            (error as? ConfigError)?.problems.contains { $0.path == "database_durability" && $0.message.contains("only for a SQLite journal") } == true
        }
    }

    @Test("every problem is reported with its key path and line")
    func problems() throws {
        let dir = TempDirectory()
        _ = try script(dir, "noexec.sh", mode: 0o644)
        let path = try write(dir, """
            api:
              base_url: ftp://nope
              colour: blue
            snapshots: sometimes
            concurrency: { runs: many }
            tools:
              a:
                command: ["missing.sh"]
              b:
                command: ["noexec.sh"]
                timeout: soon
                on_restart: maybe
              c:
                timeout: 5s
              "bad name!":
                command: ["x"]
            """)
        #expect {
            try ConfigLoader.load(file: path, environment: [:])
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            let text = error.description
            let expected = [
                "line 2: api.base_url: expected an http:// or https:// URL",
                "line 3: api.colour: unknown key 'colour'",
                "line 4: snapshots: expected 'lifecycle' or 'all'",
                "line 5: concurrency.runs: expected a whole number",
                "tools.a.command: handler \(dir.path("missing.sh")) does not exist",
                "tools.b.command: handler \(dir.path("noexec.sh")) has no execute bit",
                "line 11: tools.b.timeout: expected a positive, finite duration",
                "line 12: tools.b.on_restart: expected 'rerun' or 'fail'",
                "tools.c: missing 'command'",
                "tools.bad name!: a tool name is",
            ]
            for line in expected where !text.contains(line) {
                Issue.record("missing «\(line)» in:\n\(text)")
            }
            return true
        }
    }

    @Test("malformed YAML is one clear problem")
    func badYAML() {
        #expect { try ConfigLoader.parse("tools: [unclosed", file: "/t.yaml") } throws: { error in
            (error as? ConfigError)?.description.contains("not valid YAML") == true
        }
    }

    @Test("one duration syntax for the configuration and the command line")
    func durations() {
        #expect(Duration.parse("500ms") == .milliseconds(500))
        #expect(Duration.parse("30s") == .seconds(30))
        #expect(Duration.parse("5m") == .seconds(300))
        #expect(Duration.parse("1h") == .seconds(3600))
        #expect(Duration.parse("30d") == .seconds(30 * 86400))
        #expect(Duration.parse("2w") == .seconds(2 * 604_800))
        #expect(Duration.parse("1.5") == .milliseconds(1500))
        #expect(Duration.parse("30", requireUnit: true) == nil, "prune takes units only")
        #expect(Duration.parse("soon") == nil)
        #expect(Duration.parse("-1s") == .seconds(-1), "the sign is kept for callers to refuse")
        #expect(Duration.milliseconds(1500).milliseconds == 1500)
        #expect(Duration.milliseconds(1500).seconds == 1.5)
    }
}
