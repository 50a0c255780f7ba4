import Foundation
import WireFormat
import WorkModel

/// How `toolworker usage` groups the ledger.
public enum UsageGrouping: Sendable, Equatable, CustomStringConvertible {
    case model, day, tool, provider
    /// By the value of one metadata key of the run (its request's, else its job's): `metadata:team`.
    case metadata(String)

    /// `model`, `day`, `tool`, `provider` or `metadata:KEY`.
    public init?(_ text: String) {
        switch text {
        case "model": self = .model
        case "day": self = .day
        case "tool": self = .tool
        case "provider": self = .provider
        default:
            guard text.hasPrefix("metadata:"), text.count > "metadata:".count else { return nil }
            self = .metadata(String(text.dropFirst("metadata:".count)))
        }
    }

    public var description: String {
        switch self {
        case .model: "model"
        case .day: "day"
        case .tool: "tool"
        case .provider: "provider"
        case .metadata(let key): "metadata:\(key)"
        }
    }
}

/// One line of a usage report: the requests of one group, their tokens, and their cost per currency.
public struct UsageTotal: Sendable, Equatable {
    public var key: String
    public var requests: Int64 = 0
    public var tokens = TokenUsage(input: 0, output: 0)
    /// The cost of the priced requests, by currency.
    public var cost: [String: Double] = [:]
    /// Requests whose model had no price (no cost counted for them).
    public var unpricedRequests: Int64 = 0

    public init(key: String) { self.key = key }
}

extension JournalHistory {
    /// The ledger's requests recorded at or after `since` (Unix milliseconds; all when `nil`), summed per group,
    /// the largest total first. With `.tool` a request counts once for each tool it called (`(none)` when it called
    /// none); a run without the metadata key is `(none)`.
    public func usage(since: Int64?, by grouping: UsageGrouping) throws -> [UsageTotal] {
        let rows = try connection.query(
            """
            SELECT u.model, u.provider, u.input_tokens, u.cached_input_tokens, u.output_tokens, u.reasoning_tokens, u.cost,
                   u.currency, u.tools, u.recorded_at, r.request, j.metadata AS job_metadata
            FROM usage u JOIN runs r ON r.id = u.run LEFT JOIN jobs j ON j.id = r.job_id
            WHERE u.recorded_at >= ?
            """,
            [.integer(since ?? Int64.min)])
        var totals: [String: UsageTotal] = [:]
        let day = DateFormatter()
        day.dateFormat = "yyyy-MM-dd"
        day.timeZone = TimeZone(identifier: "UTC")
        day.locale = Locale(identifier: "en_US_POSIX")
        for row in rows {
            let keys: [String]
            switch grouping {
            case .model: keys = [row["model"].text ?? "(unknown)"]
            case .provider: keys = [row["provider"].text ?? "(unknown)"]
            case .day: keys = [day.string(from: Date(timeIntervalSince1970: Double(row["recorded_at"].int ?? 0) / 1000))]
            case .tool:
                let tools = (try? JSONValue(parsing: row["tools"].text ?? "[]"))?.arrayValue?.compactMap(\.stringValue) ?? []
                keys = tools.isEmpty ? ["(none)"] : tools
            case .metadata(let key):
                let fromRun = (try? JSONValue(parsing: row["request"].text ?? "null"))?["metadata"]?[key]
                let fromJob = (try? JSONValue(parsing: row["job_metadata"].text ?? "null"))?[key]
                keys = [(fromRun ?? fromJob).map { $0.stringValue ?? $0.serialized() } ?? "(none)"]
            }
            for key in keys {
                var total = totals[key] ?? UsageTotal(key: key)
                total.requests += 1
                total.tokens.input += row["input_tokens"].int ?? 0
                total.tokens.cachedInput += row["cached_input_tokens"].int ?? 0
                total.tokens.output += row["output_tokens"].int ?? 0
                total.tokens.reasoning += row["reasoning_tokens"].int ?? 0
                if let cost = row["cost"].double, let currency = row["currency"].text {
                    total.cost[currency, default: 0] += cost
                } else {
                    total.unpricedRequests += 1
                }
                totals[key] = total
            }
        }
        return totals.values.sorted { ($0.tokens.total, $1.key) > ($1.tokens.total, $0.key) }
    }
}
