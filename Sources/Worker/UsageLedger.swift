import CoreMetrics
import Logging
import Synchronization
import WorkModel

/// Prices each model request's usage as it arrives (at the prices of the time, stored with the cost), counts it in
/// the metrics, and says once per model and process when a model has no price.
public final class UsageLedger: Sendable {
    public let prices: PriceTable
    private let logger: Logger
    private let unpricedModels = Mutex<Set<String>>([])

    public init(prices: PriceTable = PriceTable(), logger: Logger = Logger(label: "toolworker.usage")) {
        self.prices = prices
        self.logger = logger
    }

    /// The journal's record of `usage`, which arrived with event `eventSeq` of a loop served by `loopModel` on
    /// `provider` (`default` for the `api:` section).
    public func record(_ usage: RequestUsage, eventSeq: Int?, loopModel: String?, provider: String = "default") -> UsageRecord {
        let record = UsageRecord(usage, eventSeq: eventSeq, model: loopModel, provider: provider, prices: prices)
        let priced = record.model.flatMap { prices.price(for: $0)?.name }
        if priced == nil { noteUnpriced(record.model ?? "(unnamed)") }
        WorkerMetrics.usage(record, model: priced ?? "unpriced")
        return record
    }

    private func noteUnpriced(_ model: String) {
        let first = unpricedModels.withLock { $0.insert(model).inserted }
        guard first else { return }
        logger.notice(
            "no price for this model: its usage is recorded without a cost (add it under prices: to count its cost)",
            metadata: ["model": "\(model)"])
    }
}
