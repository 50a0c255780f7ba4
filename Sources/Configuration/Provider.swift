import OpenAIClient
import WorkModel

/// One server ToolWorker sends model requests to (`providers.NAME`; without a `providers:` section, the `api:` section
/// is the one provider, `default`): where it is, what it speaks, and the pool of keys it is reached with.
public struct Provider: Sendable, Equatable {
    /// Where a key comes from: an environment variable or a file (first line).
    public enum KeySource: Sendable, Equatable {
        case environment(String)
        case file(String)

        /// `env:VARIABLE` or `file:PATH`: how the key is named in status, logs and metrics (never its value).
        public var text: String {
            switch self {
            case .environment(let name): "env:\(name)"
            case .file(let path): "file:\(path)"
            }
        }
    }

    public var name: String
    /// `nil`: `$OPENAI_BASE_URL`, then the public default (the `api:` section only).
    public var baseURL: String?
    /// `assistants` or `responses`: the protocol of a job on this provider that names none.
    public var protocolName: String
    public var state: ConversationState
    /// The key pool, in the order keys are tried.
    public var keys: [KeySource]
    /// Sent with every request to this provider.
    public var headers: [HeaderPair] = []
    /// `models: {ALIAS: MODEL}`: a job's `--model ALIAS` is sent as `MODEL` on this provider.
    public var modelAliases: [String: String] = [:]
    public var organization: String?
    public var project: String?
    /// How long a key the server refused (401, 402, 403, `insufficient_quota`) stays out of use.
    public var keyDisableFor: Duration = .seconds(3600)
    /// `daily_budget`: tokens and cost all this provider's requests may take in one UTC day (every daemon of the
    /// journal together).
    public var dailyBudget: Budget?

    public init(name: String, baseURL: String?, protocolName: String, state: ConversationState, keys: [KeySource]) {
        self.name = name
        self.baseURL = baseURL
        self.protocolName = protocolName
        self.state = state
        self.keys = keys
    }

    /// The model to send for `model` (an alias of this provider, or a model's own name).
    public func resolve(model: String?) -> String? {
        model.map { modelAliases[$0] ?? $0 }
    }

    /// The files its keys are read from.
    public var keyFiles: [String] {
        keys.compactMap { if case .file(let path) = $0 { path } else { nil } }
    }

    /// The environment variables its keys are read from.
    public var keyVariables: [String] {
        keys.compactMap { if case .environment(let name) = $0 { name } else { nil } }
    }
}

/// An HTTP header name and value (`providers.NAME.headers`).
public struct HeaderPair: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}
