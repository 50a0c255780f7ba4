import WorkModel

/// One provider as the driver sees it: its name, a backend per protocol it is reached with, how it names models, and
/// what it may take in a day.
public struct ProviderRoute: Sendable {
    /// `default` for the `api:` section, else `providers.NAME`.
    public let name: String
    /// By ``ToolLoopBackend/protocolName``.
    public let backends: [String: any ToolLoopBackend]
    /// `models: {ALIAS: MODEL}`.
    public var modelAliases: [String: String] = [:]
    /// Tokens and cost its requests may take in one UTC day (`daily_budget`, `budgets.daily`).
    public var dailyBudget: Budget?

    public init(name: String, backends: [any ToolLoopBackend]) {
        self.name = name
        self.backends = Dictionary(backends.map { ($0.protocolName, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The model to send for `model` on this provider (an alias resolved, else the name itself).
    public func resolve(model: String?) -> String? { model.map { modelAliases[$0] ?? $0 } }
}
