import WireFormat

/// What one run or job may spend (`--budget tokens=N,cost=X,tool_calls=N,rounds=N,time=D`): checked before every
/// model request; once reached, the loop ends `budget_exceeded` and no further request is sent.
public struct Budget: Sendable, Equatable {
    /// Input plus output tokens of every request so far, and an estimate of the next request's input.
    public var tokens: Int64?
    /// Cost in the priced models' currency (requests of unpriced models count no cost).
    public var cost: Double?
    /// Tool calls answered.
    public var toolCalls: Int64?
    /// Tool rounds answered.
    public var rounds: Int64?
    /// Time since the run (or the job's first run) started.
    public var time: Duration?
    /// What reaching it does: stop the loop, or ask a person (an approval extends every limit by its own amount).
    public var onReach = BudgetAction.stop

    public init(
        tokens: Int64? = nil, cost: Double? = nil, toolCalls: Int64? = nil, rounds: Int64? = nil, time: Duration? = nil,
        onReach: BudgetAction = .stop
    ) {
        self.tokens = tokens
        self.cost = cost
        self.toolCalls = toolCalls
        self.rounds = rounds
        self.time = time
        self.onReach = onReach
    }

    /// The budget's keys, in the order they are written.
    public static let keys = ["tokens", "cost", "tool_calls", "rounds", "time", "on_reach"]

    /// Whether it sets no limit (`on_reach` alone is none).
    public var isEmpty: Bool { tokens == nil && cost == nil && toolCalls == nil && rounds == nil && time == nil }

    /// Every limit `times` as large: the budget after `times - 1` approved extensions.
    public func scaled(_ times: Int64) -> Budget {
        let factor = max(1, times)
        return Budget(
            tokens: tokens.map { $0 * factor }, cost: cost.map { $0 * Double(factor) }, toolCalls: toolCalls.map { $0 * factor },
            rounds: rounds.map { $0 * factor }, time: time.map { $0 * Int(factor) }, onReach: onReach)
    }

    /// Parses `tokens=50000,cost=2.50,tool_calls=100,rounds=20,time=30m` (any subset, each key once).
    public init(parsing text: String) throws(BudgetError) {
        self.init()
        var seen: Set<String> = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pair = part.split(separator: "=", maxSplits: 1).map { String($0.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed()) }
            guard pair.count == 2, !pair[1].isEmpty else { throw BudgetError("'\(part)' is not KEY=VALUE") }
            let (key, value) = (pair[0], pair[1])
            guard seen.insert(key).inserted else { throw BudgetError("\(key) is given twice") }
            switch key {
            case "tokens": tokens = try Self.count(value, key)
            case "tool_calls": toolCalls = try Self.count(value, key)
            case "rounds": rounds = try Self.count(value, key)
            case "cost":
                guard let amount = Double(value), amount.isFinite, amount > 0 else { throw BudgetError("cost takes an amount above 0, such as 2.50, not '\(value)'") }
                cost = amount
            case "time":
                guard let duration = Duration.parse(value, requireUnit: true), duration > .zero else {
                    throw BudgetError("time takes a duration such as 30m or 2h, not '\(value)'")
                }
                time = duration
            case "on_reach":
                guard let action = BudgetAction(rawValue: value) else { throw BudgetError("on_reach takes stop or ask, not '\(value)'") }
                onReach = action
            default:
                throw BudgetError("unknown key '\(key)' (known: \(Self.keys.joined(separator: ", ")))")
            }
        }
    }

    private static func count(_ value: String, _ key: String) throws(BudgetError) -> Int64 {
        guard let number = Int64(value), number > 0 else { throw BudgetError("\(key) takes a whole number above 0, not '\(value)'") }
        return number
    }

    /// As the journal keeps it (a job's `options.budget`, a run's `request.budget`).
    public var json: JSONValue {
        var object = JSONObject()
        if let tokens { object["tokens"] = .int(tokens) }
        if let cost { object["cost"] = .double(cost) }
        if let toolCalls { object["tool_calls"] = .int(toolCalls) }
        if let rounds { object["rounds"] = .int(rounds) }
        if let time { object["time_ms"] = .int(Int64(time.milliseconds)) }
        if onReach != .stop { object["on_reach"] = .string(onReach.rawValue) }
        return .object(object)
    }

    /// Back from ``json``; `nil` for anything else.
    public init?(json: JSONValue?) {
        guard let object = json?.objectValue else { return nil }
        self.init(
            tokens: object["tokens"]?.intValue, cost: object["cost"]?.doubleValue, toolCalls: object["tool_calls"]?.intValue,
            rounds: object["rounds"]?.intValue, time: object["time_ms"]?.intValue.map { .milliseconds($0) },
            onReach: object["on_reach"]?.stringValue.flatMap(BudgetAction.init(rawValue:)) ?? .stop)
        if isEmpty { return nil }
    }

    /// Why the next request must not be sent, or `nil` while `spent` plus `nextInput` (the estimated input tokens of
    /// the next request) and `upcomingCalls` (the round about to be answered) stays within every limit.
    public func exceeded(by spent: Spending, nextInput: Int64, upcomingCalls: Int64 = 0) -> String? {
        if let tokens, spent.tokens + nextInput > tokens {
            return "token budget reached: \(spent.tokens) tokens used and about \(nextInput) more for the next request, of \(tokens)"
        }
        if let cost, spent.cost >= cost {
            return "cost budget reached: \(Self.amount(spent.cost)) spent of \(Self.amount(cost))"
        }
        if let toolCalls, upcomingCalls > 0 ? spent.toolCalls + upcomingCalls > toolCalls : spent.toolCalls >= toolCalls {
            return "tool call budget reached: \(spent.toolCalls) calls answered and \(upcomingCalls) asked for, of \(toolCalls)"
        }
        if let rounds, spent.rounds >= rounds {
            return "round budget reached: \(spent.rounds) rounds answered of \(rounds)"
        }
        if let time, spent.elapsed >= time {
            return "time budget reached: \(Int(spent.elapsed.seconds)) s since the start, of \(Int(time.seconds)) s"
        }
        return nil
    }

    static func amount(_ value: Double) -> String {
        let cents = (value * 10_000).rounded() / 10_000
        return String(cents)
    }
}

/// Whose spending a budget counts.
public enum BudgetScope: Sendable, Equatable {
    /// One run (a foreground `run`).
    case run
    /// A job, over all its runs.
    case job(Int64)
    /// Every run on an Assistants thread or a Responses conversation (`budgets.per_thread`).
    case thread(String)

    /// The scope's name in a request to extend a budget (`run`, `job`, `thread`).
    public var name: String {
        switch self {
        case .run: "run"
        case .job: "job"
        case .thread: "thread"
        }
    }
}

/// What reaching a budget does.
public enum BudgetAction: String, Sendable, Equatable {
    /// End the loop `budget_exceeded`; nothing more is sent.
    case stop
    /// Ask a person through the approvals (`toolworker approve` extends every limit by its own amount, `deny` stops).
    case ask
}

/// What a run or job has spent so far, from the journal.
public struct Spending: Sendable, Equatable {
    public var tokens: Int64
    public var cost: Double
    public var toolCalls: Int64
    public var rounds: Int64
    public var elapsed: Duration
    /// Input plus output tokens of the latest request: the next one's input is at least about as large.
    public var lastRequestTokens: Int64
    /// Extensions of the budget a person approved (in the scope's runs).
    public var budgetExtensions: Int64 = 0
    /// Requests for an extension in this run that were decided (the next one is numbered after them).
    public var budgetRequestsDecided: Int64 = 0

    public init(tokens: Int64 = 0, cost: Double = 0, toolCalls: Int64 = 0, rounds: Int64 = 0, elapsed: Duration = .zero, lastRequestTokens: Int64 = 0) {
        self.tokens = tokens
        self.cost = cost
        self.toolCalls = toolCalls
        self.rounds = rounds
        self.elapsed = elapsed
        self.lastRequestTokens = lastRequestTokens
    }
}

/// A `--budget` that cannot be read.
public struct BudgetError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// What a provider's day says about a loop's next request (``Budget`` per provider and UTC day).
public enum DailyBudgetVerdict: Sendable, Equatable {
    /// Its estimate is reserved: send it.
    case reserved
    /// Nothing is known of the day's requests yet and another is in flight: wait for its usage, then estimate.
    case wait(String)
    /// It would pass the day: do not send it.
    case exceeded(String)
}
