import WireFormat

/// The tokens one model request used, as its server reported them. Cached input is part of `input` and reasoning
/// part of `output`, as both APIs count them.
public struct TokenUsage: Sendable, Equatable {
    public var input: Int64
    public var cachedInput: Int64
    public var output: Int64
    public var reasoning: Int64

    public init(input: Int64, cachedInput: Int64 = 0, output: Int64, reasoning: Int64 = 0) {
        self.input = input
        self.cachedInput = cachedInput
        self.output = output
        self.reasoning = reasoning
    }

    public var total: Int64 { input + output }

    /// Reads a `usage` object of either API: an Assistants run or run step (`prompt_tokens`, `completion_tokens`,
    /// `prompt_token_details.cached_tokens`, `completion_tokens_details.reasoning_tokens`) or a Responses response
    /// (`input_tokens`, `output_tokens`, `input_tokens_details.cached_tokens`,
    /// `output_tokens_details.reasoning_tokens`). `nil` for `null`, a missing object, or one without token counts;
    /// a count that is negative or not a whole number is read as 0.
    public init?(json: JSONValue?) {
        guard let object = json?.objectValue else { return nil }
        func count(_ value: JSONValue?) -> Int64? {
            switch value {
            case .int(let number)?: return max(0, number)
            case .double?: return max(0, value?.intValue ?? 0)
            default: return nil
            }
        }
        let input = count(object["input_tokens"]) ?? count(object["prompt_tokens"])
        let output = count(object["output_tokens"]) ?? count(object["completion_tokens"])
        guard input != nil || output != nil else { return nil }
        let cached = count(object["input_tokens_details"]?["cached_tokens"])
            ?? count(object["prompt_token_details"]?["cached_tokens"]) ?? count(object["prompt_tokens_details"]?["cached_tokens"]) ?? 0
        let reasoning = count(object["output_tokens_details"]?["reasoning_tokens"])
            ?? count(object["completion_tokens_details"]?["reasoning_tokens"]) ?? 0
        self.init(input: input ?? 0, cachedInput: min(cached, input ?? 0), output: output ?? 0, reasoning: min(reasoning, output ?? 0))
    }
}

/// One model request's usage as a backend learned it: the object it belongs to (a run step, a response), the model
/// that served it, and the tools it called.
public struct RequestUsage: Sendable, Equatable {
    /// The server's id of the request's object (`step_…`, `resp_…`): a request is counted once, however often its
    /// object is seen again (a resumed stream, a reconciliation).
    public var source: String
    /// The model, when the object names it (a response does; a run step does not: its run's model is taken).
    public var model: String?
    public var tokens: TokenUsage
    /// The tools the request called, by name, once each.
    public var tools: [String]

    public init(source: String, model: String?, tokens: TokenUsage, tools: [String]) {
        self.source = source
        self.model = model
        self.tokens = tokens
        self.tools = tools
    }
}

/// A model's price per million tokens. Cached input defaults to the input price, reasoning to the output price.
public struct ModelPrice: Sendable, Equatable {
    public var input: Double
    public var cachedInput: Double?
    public var output: Double
    public var reasoning: Double?
    /// An ISO 4217 code or any label (`USD`, `EUR`, `credits`).
    public var currency: String

    public init(input: Double, cachedInput: Double? = nil, output: Double, reasoning: Double? = nil, currency: String = "USD") {
        self.input = input
        self.cachedInput = cachedInput
        self.output = output
        self.reasoning = reasoning
        self.currency = currency
    }

    /// What `usage` costs: uncached input, cached input, output other than reasoning, and reasoning, each at its price.
    public func cost(of usage: TokenUsage) -> Double {
        let perToken = 1.0 / 1_000_000
        let uncached = Double(usage.input - usage.cachedInput) * input
        let cached = Double(usage.cachedInput) * (cachedInput ?? input)
        let visible = Double(usage.output - usage.reasoning) * output
        let thinking = Double(usage.reasoning) * (reasoning ?? output)
        return (uncached + cached + visible + thinking) * perToken
    }

    /// The price as stored beside each cost (`usage.price`), so that a later change of price rewrites no history.
    public func json(model: String) -> JSONValue {
        var object: JSONObject = ["model": .string(model), "input": .double(input), "output": .double(output), "currency": .string(currency)]
        if let cachedInput { object["cached_input"] = .double(cachedInput) }
        if let reasoning { object["reasoning"] = .double(reasoning) }
        return .object(object)
    }
}

/// The `prices:` of the configuration, by model name.
public struct PriceTable: Sendable, Equatable {
    public var prices: [String: ModelPrice]

    public init(_ prices: [String: ModelPrice] = [:]) { self.prices = prices }

    /// The price of `model`: its own entry, else the longest entry it extends with a dash (`gpt-4o` prices the
    /// snapshot `gpt-4o-2024-08-06`), else `nil`.
    public func price(for model: String) -> (name: String, price: ModelPrice)? {
        if let exact = prices[model] { return (model, exact) }
        let candidates = prices.keys.filter { model.hasPrefix($0 + "-") }
        guard let name = candidates.max(by: { $0.count < $1.count }) else { return nil }
        return (name, prices[name]!)
    }
}

/// One request's usage as the journal keeps it (table `usage`), with its cost at the price of the time.
public struct UsageRecord: Sendable, Equatable {
    public var source: String
    /// The event it arrived with (`nil` when learned otherwise, by a reconciliation).
    public var eventSeq: Int?
    public var model: String?
    public var provider: String
    public var tokens: TokenUsage
    public var tools: [String]
    /// `nil` when the model has no price.
    public var cost: Double?
    public var currency: String?
    /// The price the cost was computed with.
    public var price: JSONValue?

    public init(
        source: String, eventSeq: Int?, model: String?, provider: String, tokens: TokenUsage, tools: [String], cost: Double?,
        currency: String?, price: JSONValue?
    ) {
        self.source = source
        self.eventSeq = eventSeq
        self.model = model
        self.provider = provider
        self.tokens = tokens
        self.tools = tools
        self.cost = cost
        self.currency = currency
        self.price = price
    }

    /// The record of `usage` priced by `prices` (no cost when its model has none).
    public init(_ usage: RequestUsage, eventSeq: Int?, model: String?, provider: String, prices: PriceTable) {
        let model = usage.model ?? model
        let priced = model.flatMap { prices.price(for: $0) }
        self.init(
            source: usage.source, eventSeq: eventSeq, model: model, provider: provider, tokens: usage.tokens, tools: usage.tools,
            cost: priced.map { $0.price.cost(of: usage.tokens) }, currency: priced?.price.currency,
            price: priced.map { $0.price.json(model: $0.name) })
    }
}

/// A pause a server asked of one (base URL, key, model) after a 429, as the journal shares it with the fleet.
public struct RateLimitCooldown: Sendable, Equatable {
    /// The scope's text (base URL, key fingerprint, model); never the key.
    public var scope: String
    /// Unix milliseconds.
    public var until: Int64
    public var reason: String

    public init(scope: String, until: Int64, reason: String) {
        self.scope = scope
        self.until = until
        self.reason = reason
    }
}
