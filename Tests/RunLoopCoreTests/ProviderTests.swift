import FakeAssistants
import Foundation
import Testing
@testable import Configuration
@testable import Journal
@testable import OpenAIClient
@testable import Worker
import RunLoopCore

/// Several providers and keys (issue 30, part 5): `providers:` with key pools, a key the server refuses disabled
/// (and shown by `status`), `--provider`, model aliases, headers, and the `fallback:` chain for a loop that cannot
/// start on its provider.
@Suite("Providers and keys: key pools, disabled keys, --provider and the fallback chain")
struct ProviderTests {
    let toolworker = builtProduct("toolworker")

    /// A folder with a handler and a configuration whose `providers:` section is `providers`.
    func fixture(_ providers: String) throws -> (TempDirectory, String) {
        let dir = TempDirectory()
        let handler = dir.path("weather.sh")
        try "#!/bin/sh\ncat >/dev/null\necho sunny\n".writeScript(toFile: handler)
        chmod(handler, 0o755)
        let config = dir.path("toolworker.yaml")
        try """
            database: tw.db
            model: asst_weather
            tools:
              get_weather: { command: ["weather.sh"], timeout: 5s }
            \(providers)
            """.write(toFile: config, atomically: true, encoding: .utf8)
        return (dir, config)
    }

    func rows(_ dir: TempDirectory, _ sql: String) throws -> [String] {
        let result = try runCommandBlocking("/usr/bin/sqlite3", [dir.path("tw.db"), sql])
        return result.output.split(separator: "\n").map(String.init)
    }

    @Test("providers: are read with their keys, headers, aliases and chain; every mistake is named with its path")
    func configuration() throws {
        let config = try ConfigLoader.parse(
            """
            api: { protocol: responses, max_retries: 1 }
            model: gpt-4.1
            providers:
              main:
                base_url: http://127.0.0.1:1/v1
                api_keys: [{env: MAIN_A}, {file: keys/main-b}, MAIN_C]
                headers: {X-Tenant: acme}
                models: {fast: gpt-4.1-mini}
                key_disable_for: 10m
                daily_budget: {tokens: 1000000, cost: 50}
              backup: {base_url: "http://127.0.0.1:2/v1", protocol: assistants, state: stateless}
            fallback: [main, backup]
            budgets: {daily: {cost: 5}}
            """, file: "/etc/toolworker/toolworker.yaml")
        #expect(config.effectiveProviders.map(\.name) == ["main", "backup"])
        let main = try #require(config.provider(named: nil))
        #expect(main.keys == [.environment("MAIN_A"), .file("/etc/toolworker/keys/main-b"), .environment("MAIN_C")])
        #expect(main.headers == [HeaderPair(name: "X-Tenant", value: "acme")])
        #expect(main.resolve(model: "fast") == "gpt-4.1-mini" && main.resolve(model: "o3") == "o3")
        #expect(main.keyDisableFor == .seconds(600) && main.protocolName == "responses")
        #expect(config.dailyBudget(of: main) == Budget(tokens: 1_000_000, cost: 50))
        let backup = try #require(config.provider(named: "backup"))
        #expect(backup.protocolName == "assistants" && backup.state == .stateless)
        #expect(backup.keys == [.environment("OPENAI_API_KEY")], "a provider without keys takes the api: section's")
        #expect(config.dailyBudget(of: backup) == Budget(cost: 5))
        #expect(config.fallback == ["main", "backup"])
        #expect(config.keyVariables == ["MAIN_A", "MAIN_C", "OPENAI_API_KEY"])
        #expect(config.protectedPaths.contains("/etc/toolworker/keys/main-b"), "a key file is hidden from sandboxed calls")

        for (text, path, words) in [
            ("providers: {p: {protocol: assistants}}", "providers.p", "needs base_url"),
            ("providers: {p: {base_url: 'http://x/v1', colour: red}}", "providers.p.colour", "unknown key"),
            ("providers: {p: {base_url: 'http://x/v1', api_keys: []}}", "providers.p.api_keys", "non-empty list"),
            ("providers: {p: {base_url: 'http://x/v1', api_keys: [{env: A, file: B}]}}", "providers.p.api_keys[0]", "one of env"),
            ("providers: {p: {base_url: 'http://x/v1', headers: {Authorization: x}}}", "providers.p.headers.Authorization", "set by ToolWorker"),
            ("providers: {p: {base_url: 'http://x/v1', headers: {'Bad Name': x}}}", "providers.p.headers.Bad Name", "not a valid HTTP header"),
            ("providers: {p: {base_url: 'http://x/v1', daily_budget: {rounds: 3}}}", "providers.p.daily_budget.rounds", "unknown key"),
            ("providers: {'a b': {base_url: 'http://x/v1'}}", "providers.a b", "letters, digits"),
            ("providers: {p: {base_url: 'http://x/v1'}}\nfallback: [p, q]", "fallback[1]", "no provider is called 'q'"),
            ("fallback: [default, default]", "fallback[1]", "twice"),
        ] {
            #expect(throws: ConfigError.self, "\(text)") { try ConfigLoader.parse(text, file: "/tmp/x.yaml") }
            do { _ = try ConfigLoader.parse(text, file: "/tmp/x.yaml") } catch let error as ConfigError {
                #expect(error.problems.contains { $0.path == path && $0.message.contains(words) }, "\(text): \(error)")
            }
        }
        // Without providers: the api: section is the one provider, `default`, unchanged.
        let single = try ConfigLoader.parse("api: {base_url: 'http://127.0.0.1:9/v1', api_key_env: MY_KEY}", file: "/tmp/x.yaml")
        #expect(single.effectiveProviders.map(\.name) == ["default"])
        let client = try single.clientConfiguration(environment: ["MY_KEY": "sk-1"])
        #expect(client.apiKey == "sk-1" && client.keys.keys.map(\.label) == ["default/env:MY_KEY"])
    }

    @Test("a key the server refuses (401) is disabled and the request goes on with the next; status names it; later runs skip it")
    func keyPool() async throws {
        let server = try FakeAssistantsServer()
        defer { server.stop() }
        server.acceptKey("sk-revoked", refusing: 401)
        let (dir, config) = try fixture("""
            providers:
              main:
                base_url: "\(server.baseURL)"
                protocol: assistants
                api_keys: [{env: KEY_REVOKED}, {env: KEY_GOOD}]
                headers: {X-Tenant: acme}
            """)
        defer { withExtendedLifetime(dir) {} }
        let environment = ["KEY_REVOKED": "sk-revoked", "KEY_GOOD": server.apiKey, "PATH": "/usr/bin:/bin"]
        let first = try await runCommand(toolworker, ["run", "--config", config, "--assistant", "asst_weather", "--message", "go"], environment: environment)
        #expect(first.status == 0, "\(first.output) \(first.error)")
        #expect(server.requests(withKey: "sk-revoked") == 1, "the refused key was tried once")
        #expect(first.error.contains("refused an API key") && first.error.contains("main/env:KEY_REVOKED"), "\(first.error)")
        #expect(!first.error.contains("sk-revoked") && !first.error.contains(server.apiKey), "no key in the log")
        #expect(server.requests.allSatisfy { $0.headers["x-tenant"] == "acme" }, "the provider's headers go with every request")
        let status = try await runCommand(toolworker, ["status", "--config", config], environment: environment)
        #expect(status.output.contains("key main/env:KEY_REVOKED: disabled after HTTP 401"), "\(status.output)")
        let json = try await runCommand(toolworker, ["status", "--config", config, "--json"], environment: environment)
        let limits = try JSONValue(parsing: Array(json.output.utf8))["keys_and_limits"]?.arrayValue ?? []
        #expect(limits.first?["key"]?.stringValue == "main/env:KEY_REVOKED" && limits.first?["state"]?.stringValue == "disabled")
        // A later process reads the disable from the journal: the refused key is not sent again.
        let second = try await runCommand(toolworker, ["run", "--config", config, "--assistant", "asst_text", "--message", "hi"], environment: environment)
        #expect(second.status == 0, "\(second.output) \(second.error)")
        #expect(server.requests(withKey: "sk-revoked") == 1)
        #expect(try rows(dir, "SELECT DISTINCT provider FROM usage") == ["main"])
        #expect(try rows(dir, "SELECT json_extract(request, '$.provider') IS NULL FROM runs LIMIT 1") == ["1"], "the default provider is not named")
        // Every key refused: the run cannot start, and says why.
        let (deadDir, deadConfig) = try fixture("""
            providers:
              only: {base_url: "\(server.baseURL)", protocol: assistants, api_keys: [{env: KEY_REVOKED}]}
            """)
        defer { withExtendedLifetime(deadDir) {} }
        let dead = try await runCommand(toolworker, ["run", "--config", deadConfig, "--assistant", "asst_text", "--message", "hi"], environment: environment)
        #expect(dead.status == 14, "\(dead.output) \(dead.error)")
        #expect(dead.output.contains("HTTP 401"), "\(dead.output)")
    }

    @Test("a loop whose provider cannot be reached starts on the next of the fallback chain; the journal says where it ran")
    func fallback() async throws {
        let server = try FakeAssistantsServer()
        defer { server.stop() }
        let down = try RefusingPort()
        defer { withExtendedLifetime(down) {} }
        let (dir, config) = try fixture("""
            api: { max_retries: 0 }
            providers:
              primary: {base_url: "\(down.baseURL)", protocol: responses, models: {smart: nothing-here}}
              backup: {base_url: "\(server.baseURL)", protocol: responses, models: {smart: asst_weather}}
            fallback: [primary, backup]
            """)
        defer { withExtendedLifetime(dir) {} }
        let environment = ["OPENAI_API_KEY": server.apiKey, "PATH": "/usr/bin:/bin"]
        let moved = try await runCommand(
            toolworker, ["run", "--config", config, "--model", "smart", "--message", "weather?"], environment: environment)
        #expect(moved.status == 0, "\(moved.output) \(moved.error)")
        #expect(moved.error.contains("moving it to the next of the fallback chain"), "\(moved.error)")
        #expect(server.requests.first { $0.method == "POST" && $0.path.hasSuffix("/responses") }?.json?["model"]?.stringValue == "asst_weather", "the alias resolved by the backup")
        #expect(try rows(dir, "SELECT json_extract(request, '$.provider'), model FROM runs") == ["backup|asst_weather"])
        #expect(try rows(dir, "SELECT DISTINCT provider FROM usage") == ["backup"])
        #expect(try rows(dir, "SELECT json_extract(data, '$.from') || '>' || json_extract(data, '$.to') FROM events WHERE name = 'toolworker.failover'")
            == ["primary>backup"])
        let usage = try await runCommand(toolworker, ["usage", "--config", config, "--by", "provider"], environment: environment)
        #expect(usage.output.contains("backup"), "\(usage.output)")
        // Named explicitly, the backup is used at once; a provider nobody configured is a usage error.
        let direct = try await runCommand(
            toolworker, ["run", "--config", config, "--provider", "backup", "--model", "smart", "--message", "again"], environment: environment)
        #expect(direct.status == 0 && !direct.error.contains("fallback"), "\(direct.error)")
        let unknown = try await runCommand(toolworker, ["run", "--config", config, "--provider", "nope", "--message", "x"], environment: environment)
        #expect(unknown.status == 64 && unknown.error.contains("no provider is called 'nope'"), "\(unknown.error)")
        // A conversation belongs to its provider: a loop continuing one is never moved.
        let pinned = try await runCommand(
            toolworker, ["run", "--config", config, "--conversation", "conv_elsewhere", "--message", "x"], environment: environment)
        #expect(pinned.status == 14, "\(pinned.output) \(pinned.error)")
        #expect(!pinned.error.contains("fallback chain"))
    }

    @Test("the machine moves a loop only for a provider's failure, only while a fallback is left")
    func machine() {
        var machine = LoopMachine(schedule: RetrySchedule(maxStartRetries: 0, backoff: { _ in .zero }))
        machine.failoverAvailable = true
        let now = ClockReading(monotonic: .zero, unixSeconds: 0)
        #expect(machine.handle(.begin(.start(needsContainer: false)), at: now) == [.start])
        let refused = LoopError(.transport(mayHaveBeenSent: false), message: "connection refused")
        #expect(machine.handle(.startFailed(refused), at: now) == [.failover(refused)])
        #expect(machine.handle(.failedOver(needsContainer: true), at: now) == [.prepare])
        #expect(machine.handle(.prepared, at: now) == [.start])
        // A request the server found wrong would fail anywhere: no move.
        let wrong = LoopError(.http(status: 400), code: "invalid_request", message: "bad")
        guard case .fail(let code, _, _)? = machine.handle(.startFailed(wrong), at: now).last else { Issue.record("expected a failure"); return }
        #expect(code == "invalid_request")
        // Nothing left to move to: the provider's own failure ends it.
        var last = LoopMachine(schedule: RetrySchedule(maxStartRetries: 0, backoff: { _ in .zero }))
        last.failoverAvailable = true
        _ = last.handle(.begin(.start(needsContainer: false)), at: now)
        let limited = LoopError(.http(status: 429), message: "slow down")
        #expect(last.handle(.startFailed(limited), at: now) == [.failover(limited)])
        guard case .fail(let lastCode, let message, _)? = last.handle(.noFallback, at: now).last else { Issue.record("expected a failure"); return }
        #expect(lastCode == "http_429" && message.contains("slow down"))
    }

    @Test("serve: a job whose provider is down runs on the fallback; a key out of quota is disabled, counted in the metrics")
    func serveFallbackAndKeyMetrics() async throws {
        let server = try FakeAssistantsServer()
        defer { server.stop() }
        server.acceptKey("sk-broke", refusing: 429, code: "insufficient_quota")
        let down = try RefusingPort()
        defer { withExtendedLifetime(down) {} }
        let (dir, config) = try fixture("""
            api: { max_retries: 0 }
            metrics: { textfile: metrics.prom }
            providers:
              primary: {base_url: "\(down.baseURL)", protocol: assistants}
              backup: {base_url: "\(server.baseURL)", protocol: assistants, api_keys: [{env: KEY_BROKE}, {env: OPENAI_API_KEY}]}
            fallback: [primary, backup]
            """)
        defer { withExtendedLifetime(dir) {} }
        let environment = ["OPENAI_API_KEY": server.apiKey, "KEY_BROKE": "sk-broke", "PATH": "/usr/bin:/bin"]
        let queued = try await runCommand(toolworker, ["enqueue", "--config", config, "--assistant", "asst_weather", "--message", "go"], environment: environment)
        #expect(queued.status == 0, "\(queued.error)")
        let serve = try startServe(config: config, environment: environment, log: dir.path("serve.log"))
        defer { if serve.isRunning { kill(serve.processIdentifier, SIGKILL) } }
        try await waitFor("the job to succeed") { try rows(dir, "SELECT state FROM jobs") == ["succeeded"] }
        #expect(try rows(dir, "SELECT json_extract(request, '$.provider') FROM runs") == ["backup"])
        #expect(try rows(dir, "SELECT thread_id IS NULL FROM jobs") == ["1"], "a fallback's thread is not the job's: a retry starts on its own provider")
        #expect(server.requests(withKey: "sk-broke") == 1, "the key out of quota was tried once, then left alone")
        try await waitFor("the metrics textfile to show the disabled key") {
            let text = (try? String(contentsOfFile: dir.path("metrics.prom"), encoding: .utf8)) ?? ""
            return text.contains(#"toolworker_api_key_usable{key="backup/env:KEY_BROKE"} 0"#)
                && text.contains(#"toolworker_api_key_disabled_total{key="backup/env:KEY_BROKE",status="429"} 1"#)
                && text.contains(#"toolworker_failovers_total{from="primary",to="backup"} 1"#)
        }
        kill(serve.processIdentifier, SIGTERM)
        await waitForExit(serve)
        let log = (try? String(contentsOfFile: dir.path("serve.log"), encoding: .utf8)) ?? ""
        #expect(!log.contains("sk-broke") && !log.contains(server.apiKey), "no key in the log")
    }
}
