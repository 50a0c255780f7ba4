import WorkModel
import Yams

extension Reader {
    /// `prices: {MODEL: {input: 2.50, cached_input: 1.25, output: 10.00, reasoning: 10.00, currency: USD}}`, per
    /// million tokens; `input` and `output` are required, `currency` defaults to `USD`.
    mutating func readPrices(_ node: Node, _ config: inout ToolWorkerConfig) {
        for (model, entry) in mapping(node, "prices", allowed: []) ?? [] {
            let path = "prices.\(model)"
            var input: Double?
            var output: Double?
            var price = ModelPrice(input: 0, output: 0)
            for (key, value) in mapping(entry, path, allowed: ["input", "cached_input", "output", "reasoning", "currency"]) ?? [] {
                let keyPath = "\(path).\(key)"
                switch key {
                case "input": input = pricePerMillion(value, keyPath)
                case "cached_input": price.cachedInput = pricePerMillion(value, keyPath)
                case "output": output = pricePerMillion(value, keyPath)
                case "reasoning": price.reasoning = pricePerMillion(value, keyPath)
                case "currency":
                    guard let text = string(value, keyPath) else { continue }
                    if text.isEmpty || text.count > 16 || !text.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
                        problem(keyPath, value, "expected a currency code such as USD (letters, digits, _; at most 16), not '\(text)'")
                    } else {
                        price.currency = text
                    }
                default: break
                }
            }
            guard case .mapping = entry else { continue }
            if input == nil { problem(path, entry, "needs input: the price of a million input tokens") }
            if output == nil { problem(path, entry, "needs output: the price of a million output tokens") }
            guard let input, let output else { continue }
            price.input = input
            price.output = output
            config.prices.prices[model] = price
        }
    }

    /// A price per million tokens: a finite number, 0 or more.
    mutating func pricePerMillion(_ node: Node, _ path: String) -> Double? {
        guard case .scalar = node, let value = node.float, value.isFinite, value >= 0 else {
            problem(path, node, "expected a price per million tokens: a number, 0 or more, such as 2.50")
            return nil
        }
        return value
    }
}

extension Reader {
    /// `rate_limits: {park_after: 30s, models: {MODEL: {requests_per_minute: 500}}}`.
    mutating func readRateLimits(_ node: Node, _ config: inout ToolWorkerConfig) {
        for (key, value) in mapping(node, "rate_limits", allowed: ["park_after", "models"]) ?? [] {
            switch key {
            case "park_after":
                if let duration = duration(value, "rate_limits.park_after") { config.rateLimits.parkAfter = duration }
            case "models":
                for (model, limits) in mapping(value, "rate_limits.models", allowed: []) ?? [] {
                    let path = "rate_limits.models.\(model)"
                    for (field, number) in mapping(limits, path, allowed: ["requests_per_minute"]) ?? [] {
                        if let n = integer(number, "\(path).\(field)", min: 1, max: 10_000_000) { config.rateLimits.requestsPerMinute[model] = Int64(n) }
                    }
                }
            default: break
            }
        }
    }
}

extension Reader {
    /// `budgets: {per_thread: {tokens: N, cost: X, tool_calls: N, rounds: N, time: D, on_reach: stop|ask}}`: what all
    /// the runs on one thread or conversation may spend together (the keys and values of `--budget`); `daily: {tokens,
    /// cost}`: what each provider without its own `daily_budget` may take in one UTC day.
    mutating func readBudgets(_ node: Node, _ config: inout ToolWorkerConfig) {
        for (key, value) in mapping(node, "budgets", allowed: ["per_thread", "daily"]) ?? [] {
            let path = "budgets.\(key)"
            if key == "daily" {
                config.dailyBudget = dailyBudget(value, path)
                continue
            }
            var parts: [String] = []
            for (field, setting) in mapping(value, path, allowed: Budget.keys) ?? [] {
                guard let text = string(setting, "\(path).\(field)") else { continue }
                parts.append("\(field)=\(text)")
            }
            guard case .mapping = value else { continue }
            do {
                let budget = try Budget(parsing: parts.joined(separator: ","))
                if budget.isEmpty { problem(path, value, "sets no limit (tokens, cost, tool_calls, rounds or time)") } else { config.threadBudget = budget }
            } catch {
                problem(path, value, error.description)
            }
        }
    }
}
