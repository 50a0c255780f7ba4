import ArgumentParser
import Foundation
import RunLoopCore

/// `toolworker usage`: the usage ledger summed by model, day, tool, provider or a metadata key.
struct UsageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usage",
        abstract: "Tokens and cost from the usage ledger, by model, day, tool, provider or metadata key.",
        discussion: """
            Every model request's usage is recorded as it arrives (table usage; views usage_by_run, usage_daily). \
            Cost is computed with the prices: of the configuration at that time and kept with the price used; a request \
            whose model had no price counts under 'unpriced'. With --by tool a request counts once for each tool it called.
            """)

    @OptionGroup var options: ConfigOption
    @Option(help: "Only requests of this recent period, for example 7d, 24h, 30m.") var since: String?
    @Option(help: "Group by model, day, tool, provider or metadata:KEY.") var by = "model"
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        try await guarded {
            guard let grouping = UsageGrouping(by) else {
                throw CommandFailure(message: "--by takes model, day, tool, provider or metadata:KEY, not '\(by)'", code: ExitStatus.usage)
            }
            var cutoff: Int64?
            if let since {
                guard let age = Duration.parse(since, requireUnit: true), age >= .zero else {
                    throw CommandFailure(message: "--since takes a duration such as 7d or 12h, not '\(since)'", code: ExitStatus.usage)
                }
                cutoff = unixMilliseconds() - Int64(age.milliseconds)
            }
            let history = JournalHistory(try openHistory(try options.load()))
            let totals = try history.usage(since: cutoff, by: grouping)
            if json {
                print(JSONValue.array(totals.map { usageJSON($0, grouping: grouping) }).serialized())
            } else {
                printRows(totals.map { usageRow($0, grouping: grouping) }, json: false)
            }
        }
    }

    func usageJSON(_ total: UsageTotal, grouping: UsageGrouping) -> JSONValue {
        var cost = JSONObject()
        for (currency, amount) in total.cost.sorted(by: { $0.key < $1.key }) { cost[currency] = .double(amount) }
        return [
            "\(grouping)": .string(total.key), "requests": .int(total.requests), "input_tokens": .int(total.tokens.input),
            "cached_input_tokens": .int(total.tokens.cachedInput), "output_tokens": .int(total.tokens.output),
            "reasoning_tokens": .int(total.tokens.reasoning), "total_tokens": .int(total.tokens.total), "cost": .object(cost),
            "unpriced_requests": .int(total.unpricedRequests),
        ]
    }

    func usageRow(_ total: UsageTotal, grouping: UsageGrouping) -> SQLRow {
        let cost = total.cost.sorted(by: { $0.key < $1.key }).map { "\(String(format: "%.4f", $0.value)) \($0.key)" }.joined(separator: " + ")
        return SQLRow(
            columns: ["\(grouping)", "requests", "input", "cached_input", "output", "reasoning", "total", "cost", "unpriced"],
            values: [
                .text(total.key), .integer(total.requests), .integer(total.tokens.input), .integer(total.tokens.cachedInput),
                .integer(total.tokens.output), .integer(total.tokens.reasoning), .integer(total.tokens.total),
                cost.isEmpty ? .null : .text(cost), .integer(total.unpricedRequests),
            ])
    }
}
