import FakeAssistants
import Foundation
import Testing
@testable import Journal
@testable import Worker
import RunLoopCore

/// The usage ledger: every model request's tokens, from both protocols' streams, priced at the time, kept once, and
/// summed by `toolworker usage`.
@Suite("Usage ledger: tokens and cost per request")
struct UsageLedgerTests {
    static let gpt4o = ModelPrice(input: 2.50, cachedInput: 1.25, output: 10.00, currency: "USD")

    @Test("usage objects of both APIs are read; null, strings, negatives and impossible details are not trusted")
    func readsUsage() throws {
        func usage(_ text: String) throws -> TokenUsage? { TokenUsage(json: try JSONValue(parsing: text)) }
        #expect(try usage(#"{"prompt_tokens":20,"completion_tokens":10,"total_tokens":30,"prompt_token_details":{"cached_tokens":8},"completion_tokens_details":{"reasoning_tokens":2}}"#)
            == TokenUsage(input: 20, cachedInput: 8, output: 10, reasoning: 2))
        #expect(try usage(#"{"input_tokens":50,"input_tokens_details":{"cached_tokens":20},"output_tokens":12,"output_tokens_details":{"reasoning_tokens":4},"total_tokens":62}"#)
            == TokenUsage(input: 50, cachedInput: 20, output: 12, reasoning: 4))
        #expect(try usage("null") == nil)
        #expect(try usage("{}") == nil)
        #expect(try usage(#"{"total_tokens":5}"#) == nil)
        #expect(try usage(#"{"input_tokens":"50","output_tokens":"12"}"#) == nil, "counts as strings are no counts")
        #expect(try usage(#"{"input_tokens":-5,"output_tokens":7}"#) == TokenUsage(input: 0, output: 7))
        #expect(try usage(#"{"input_tokens":12.0,"output_tokens":1e300}"#) == TokenUsage(input: 12, output: 0))
        #expect(try usage(#"{"input_tokens":10,"input_tokens_details":{"cached_tokens":99},"output_tokens":3,"output_tokens_details":{"reasoning_tokens":50}}"#)
            == TokenUsage(input: 10, cachedInput: 10, output: 3, reasoning: 3), "details never exceed their totals")
    }

    @Test("cost: uncached and cached input, output and reasoning each at their price; a dated snapshot takes its family's")
    func prices() {
        let table = PriceTable(["gpt-4o": Self.gpt4o, "gpt-4o-mini": ModelPrice(input: 0.15, output: 0.60), "o3": ModelPrice(input: 2, output: 8, reasoning: 16)])
        #expect(table.price(for: "gpt-4o")?.name == "gpt-4o")
        #expect(table.price(for: "gpt-4o-2024-08-06")?.name == "gpt-4o")
        #expect(table.price(for: "gpt-4o-mini-2024-07-18")?.name == "gpt-4o-mini", "the longest family wins")
        #expect(table.price(for: "gpt-4") == nil)
        #expect(table.price(for: "gpt-4omni") == nil)
        // 1M uncached input at 2.50, 1M cached at 1.25, 1M output at 10.
        let cost = Self.gpt4o.cost(of: TokenUsage(input: 2_000_000, cachedInput: 1_000_000, output: 1_000_000))
        #expect(abs(cost - 13.75) < 1e-9)
        // Reasoning at its own price: 1M visible output at 8, 1M reasoning at 16.
        #expect(abs(table.prices["o3"]!.cost(of: TokenUsage(input: 0, output: 2_000_000, reasoning: 1_000_000)) - 24) < 1e-9)
    }

    @Test("prices: parsed per model; a missing or negative price, a bad currency or an unknown key is refused with its path")
    func pricesConfiguration() throws {
        let config = try ConfigLoader.parse(
            "tools: {}\nprices:\n  gpt-4o: { input: 2.50, cached_input: 1.25, output: 10, currency: EUR }\n  o3: { input: 2, output: 8, reasoning: 16 }\n",
            file: "/x.yaml")
        #expect(config.prices.prices["gpt-4o"] == ModelPrice(input: 2.5, cachedInput: 1.25, output: 10, currency: "EUR"))
        #expect(config.prices.prices["o3"] == ModelPrice(input: 2, output: 8, reasoning: 16, currency: "USD"))
        let bad: [(String, String, String)] = [
            ("m: { input: 1 }", "prices.m", "needs output"),
            ("m: { input: -1, output: 2 }", "prices.m.input", "0 or more"),
            ("m: { input: .nan, output: 2 }", "prices.m.input", "0 or more"),
            ("m: { input: cheap, output: 2 }", "prices.m.input", "a number"),
            ("m: { input: 1, output: 2, currency: \"US$\" }", "prices.m.currency", "currency code"),
            ("m: { input: 1, output: 2, per: token }", "prices.m.per", "unknown key"),
            ("m: 2.5", "prices.m", "expected a mapping"),
        ]
        for (entry, path, message) in bad {
            #expect {
                try ConfigLoader.parse("tools: {}\nprices:\n  \(entry)\n", file: "/x.yaml")
            } throws: { error in
                (error as? ConfigError)?.problems.contains { $0.path == path && $0.message.contains(message) } == true
            }
        }
    }

    @Test("an Assistants run: each completed step's usage once, with its tools, priced at the run's model, the price kept")
    func assistantsRun() async throws {
        let h = try RunHarness()
        h.prices = PriceTable(["gpt-4o": Self.gpt4o])
        try h.handler("get_weather", RunDriverTests.weatherScript)
        #expect(try await h.run("asst_weather").status == .completed)
        let rows = try await h.rows(
            "SELECT source, event_seq, model, provider, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, tools, cost, currency, price FROM usage ORDER BY id")
        try #require(rows.count == 2, "one row per model request: the call, then the answer")
        #expect(rows[0]["source"].text?.hasPrefix("step_") == true)
        #expect(rows[0]["model"].text == "gpt-4o")
        #expect(rows[0]["provider"].text == "default")
        #expect(rows[0].values[4...8] == [20, 8, 10, 2, .text(#"["get_weather"]"#)])
        #expect(rows[1].values[4...8] == [50, 0, 12, 0, .text("[]")])
        // (20 - 8) × 2.50 + 8 × 1.25 + 10 × 10, per million.
        #expect(abs((rows[0]["cost"].double ?? 0) - 0.000140) < 1e-12)
        #expect(rows[0]["currency"].text == "USD")
        #expect(try JSONValue(parsing: rows[0]["price"].text ?? "") == [
            "model": "gpt-4o", "input": 2.5, "cached_input": 1.25, "output": 10.0, "currency": "USD",
        ])
        // Each row points at the event that reported it: the step's completion.
        let seq = try #require(rows[0]["event_seq"].int)
        let event = try await h.rows("SELECT event FROM event_log WHERE seq = ?", [.integer(seq)])
        #expect(event.first?["event"].text == "thread.run.step.completed")

        let byRun = try await h.rows("SELECT requests, input_tokens, output_tokens, total_tokens, cost, unpriced_requests, model FROM usage_by_run")
        #expect(byRun.first?.values[0...3] == [2, 70, 22, 92])
        #expect(abs((byRun.first?["cost"].double ?? 0) - 0.000385) < 1e-12)
        #expect(byRun.first?["unpriced_requests"].int == 0)

        // A later price rewrites no history: the next run is priced anew, the first keeps its cost and price.
        h.prices = PriceTable(["gpt-4o": ModelPrice(input: 100, output: 100)])
        #expect(try await h.run("asst_weather").status == .completed)
        let costs = try await h.rows("SELECT cost FROM usage ORDER BY id").map { $0["cost"].double ?? -1 }
        #expect(abs(costs[0] - 0.000140) < 1e-12 && abs(costs[1] - 0.000245) < 1e-12)
        #expect(abs(costs[2] - 0.003) < 1e-12 && abs(costs[3] - 0.0062) < 1e-12)
    }

    @Test("a Responses loop: each response's usage with cached and reasoning tokens; an unpriced model has no cost")
    func responsesLoop() async throws {
        let h = try RunHarness()
        h.prices = PriceTable(["gpt-4o": Self.gpt4o])
        try h.handler("get_weather", RunDriverTests.weatherScript)
        #expect(try await h.respond("asst_weather").status == .completed)
        let rows = try await h.rows("SELECT source, model, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, tools, cost, currency FROM usage ORDER BY id")
        try #require(rows.count == 2)
        #expect(rows.allSatisfy { $0["source"].text?.hasPrefix("resp_") == true && $0["model"].text == "asst_weather" })
        #expect(rows[0].values[2...6] == [50, 20, 12, 4, .text(#"["get_weather"]"#)])
        #expect(rows[1]["tools"].text == "[]")
        #expect(rows.allSatisfy { $0["cost"] == .null && $0["currency"] == .null }, "no price for the model: no cost")
        let byRun = try await h.rows("SELECT requests, unpriced_requests, cost FROM usage_by_run")
        #expect(byRun.first?.values == [2, 2, .null])
    }

    @Test("the same request reported twice (a stream, then a reconciliation) is kept once, on SQLite and PostgreSQL")
    func keptOnce() async throws {
        var urls: [String?] = [nil]
        if await PostgresTestCluster.available() { urls.append(try await PostgresTestCluster.makeDatabase()) }
        for url in urls {
            let h = try RunHarness(postgresURL: url)
            let runKey = try await h.store.createRun(assistantID: "a", threadID: nil, jobID: nil, request: .object([:]), protocolName: "assistants", model: nil)
            let record = UsageRecord(
                RequestUsage(source: "step_1", model: "gpt-4o", tokens: TokenUsage(input: 5, output: 3), tools: []), eventSeq: nil,
                model: nil, provider: "default", prices: PriceTable(["gpt-4o": Self.gpt4o]))
            h.store.enqueueProgress(runKey: runKey, events: [], snapshots: [], run: nil, usage: [record])
            try await h.store.flush()
            var again = record
            again.tokens = TokenUsage(input: 500, output: 300)
            h.store.enqueueProgress(runKey: runKey, events: [], snapshots: [], run: nil, usage: [again])
            try await h.store.flush()
            let rows = try await h.rows("SELECT input_tokens, output_tokens FROM usage")
            #expect(rows.map(\.values) == [[5, 3]], "\(url ?? "SQLite"): the first report stands")
            let daily = try await h.rows("SELECT day, provider, model, currency, requests, total_tokens FROM usage_daily")
            #expect(daily.count == 1 && daily.first?["requests"].int == 1 && daily.first?["total_tokens"].int == 8)
            #expect(daily.first?["day"].text?.range(of: #"^\d{4}-\d\d-\d\d$"#, options: .regularExpression) != nil)
        }
    }
}

@Suite("toolworker usage")
struct UsageCommandTests {
    let toolworker = builtProduct("toolworker")
    var environment: [String: String] { ["OPENAI_API_KEY": "sk-fake-test-key", "PATH": "/usr/bin:/bin"] }

    @Test("usage sums the ledger by model, tool, day, provider and metadata key, as a table and as JSON; bad options exit 64")
    func usageCommand() async throws {
        let (dir, server, config) = try commandLineFixture(extra: "prices:\n  gpt-4o: { input: 2.50, cached_input: 1.25, output: 10.00, currency: USD }\n")
        defer { server.stop() }
        let assistants = try await runCommand(
            toolworker, ["run", "--config", config, "--assistant", "asst_weather", "--message", "hi", "--metadata", "team=blue"], environment: environment)
        #expect(assistants.status == 0, "\(assistants.error)")
        let responses = try await runCommand(
            toolworker, ["run", "--config", config, "--protocol", "responses", "--model", "asst_weather", "--message", "hi", "--metadata", "team=red"],
            environment: environment)
        #expect(responses.status == 0, "\(responses.error)")
        // The model without a price is said once, however many of its requests arrive.
        #expect(responses.error.components(separatedBy: "no price for this model").count == 2, "\(responses.error)")
        #expect(!responses.error.contains("sk-fake-test-key"))

        func report(_ arguments: [String]) async throws -> [JSONValue] {
            let result = try await runCommand(toolworker, ["usage", "--config", config, "--json"] + arguments, environment: environment)
            #expect(result.status == 0, "\(result.error)")
            return try JSONValue(parsing: result.output.trimmingCharacters(in: .whitespacesAndNewlines)).arrayValue ?? []
        }
        let byModel = try await report([])
        #expect(byModel.count == 2)
        let gpt = try #require(byModel.first { $0["model"] == "gpt-4o" })
        #expect(gpt["requests"] == 2 && gpt["input_tokens"] == 70 && gpt["cached_input_tokens"] == 8 && gpt["total_tokens"] == 92)
        #expect(abs((gpt[path: "cost.USD"]?.doubleValue ?? 0) - 0.000385) < 1e-12)
        let unpriced = try #require(byModel.first { $0["model"] == "asst_weather" })
        #expect(unpriced["unpriced_requests"] == 2 && unpriced["cost"] == .object([:]) && unpriced["reasoning_tokens"] == 8)

        let byTool = try await report(["--by", "tool"])
        #expect(byTool.first { $0["tool"] == "get_weather" }?["requests"] == 2, "the request that called the tool, in each protocol")
        #expect(byTool.first { $0["tool"] == "(none)" }?["requests"] == 2)
        let byTeam = try await report(["--by", "metadata:team"])
        #expect(byTeam.first { $0["metadata:team"] == "blue" }?["total_tokens"] == 92)
        #expect(byTeam.first { $0["metadata:team"] == "red" }?["total_tokens"] == 124)
        let byProvider = try await report(["--by", "provider"])
        #expect(byProvider.map { $0["provider"] } == ["default"] && byProvider.first?["requests"] == 4)
        let today = try await report(["--by", "day", "--since", "1h"])
        #expect(today.count == 1 && today.first?["requests"] == 4)

        let table = try await runCommand(toolworker, ["usage", "--config", config], environment: environment)
        #expect(table.status == 0)
        let lines = table.output.split(separator: "\n")
        #expect(lines.first?.hasPrefix("model") == true && lines.contains { $0.hasPrefix("gpt-4o") && $0.contains("0.0004 USD") })

        for bad in [["--by", "colour"], ["--by", "metadata:"], ["--since", "soon"], ["--since", "7"]] {
            let refused = try await runCommand(toolworker, ["usage", "--config", config] + bad, environment: environment)
            #expect(refused.status == 64, "\(bad): \(refused.error)")
            #expect(refused.error.contains(bad[0]))
        }
        let sql = try await runCommand("/usr/bin/sqlite3", ["-readonly", dir.path("tw.db"), "SELECT sum(requests) FROM usage_daily"])
        #expect(sql.output == "4\n")
    }

    @Test("serve counts tokens by kind and cost by currency in /metrics, as the journal has them")
    func metrics() async throws {
        let h = try DaemonHarness()
        let handler = try h.script("weather.sh", "cat >/dev/null\necho sunny\n")
        let port = freePort()
        try h.writeConfig(
            extra: "metrics: { listen: \"127.0.0.1:\(port)\" }\nprices:\n  gpt-4o: { input: 2.50, cached_input: 1.25, output: 10.00 }",
            tools: "  get_weather: { command: [\"\(handler)\"], timeout: 60s }")
        try h.start()
        try await h.waitUntil("the metrics listener") { (try? httpGet(port: port, path: "/metrics").status) == 200 }
        for _ in 0..<3 { _ = try await h.enqueue("asst_weather") }
        try await h.waitUntil("every job to end") { try h.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'") == 3 }
        let scrape = try Exposition(httpGet(port: port, path: "/metrics").body)
        let input = try h.scalar("SELECT sum(input_tokens - cached_input_tokens) FROM usage")
        let cached = try h.scalar("SELECT sum(cached_input_tokens) FROM usage")
        let reasoning = try h.scalar("SELECT sum(reasoning_tokens) FROM usage")
        #expect(input == 3 * (12 + 50) && cached == 3 * 8 && reasoning == 3 * 2)
        #expect(scrape.value("toolworker_tokens_total", ["model": "gpt-4o", "kind": "input"]) == Double(input))
        #expect(scrape.value("toolworker_tokens_total", ["model": "gpt-4o", "kind": "cached_input"]) == Double(cached))
        #expect(scrape.value("toolworker_tokens_total", ["model": "gpt-4o", "kind": "reasoning"]) == Double(reasoning))
        let cost = try #require(scrape.value("toolworker_cost_total", ["model": "gpt-4o", "currency": "USD"]))
        #expect(abs(cost - 3 * 0.000385) < 1e-9)
        _ = try await h.stop()
    }
}
