import CoreMetrics

/// The journal's metrics (swift-metrics; the daemon exports them in Prometheus format).
enum JournalMetrics {
    /// Time from `BEGIN` to `COMMIT` of one group commit: every piece included, and up to the 2 ms a transaction that
    /// nobody awaits yet stays open for more work.
    static let commit = CoreMetrics.Timer(label: "toolworker_journal_commit_duration_seconds")
}

extension Duration {
    /// Whole nanoseconds (truncated).
    var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}
