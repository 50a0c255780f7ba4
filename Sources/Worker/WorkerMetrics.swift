import CoreMetrics
import ToolRunner
import WorkModel

/// The worker's metrics (swift-metrics; `serve` exports them in Prometheus format). Label values come from closed
/// sets (statuses, states, registered tool names), never from ids: a tool name the registry does not know is
/// counted as `unregistered`, so a server cannot grow the label set.
enum WorkerMetrics {
    static let runsStarted = Counter(label: "toolworker_runs_started_total")
    static let recoveries = Counter(label: "toolworker_recoveries_total")
    static let reconciliations = Counter(label: "toolworker_reconciliations_total")
    static let eventsIngested = Counter(label: "toolworker_events_ingested_total")
    static let leasesLost = Counter(label: "toolworker_leases_lost_total")
    static let takeovers = Counter(label: "toolworker_runs_taken_over_total")
    static let eventBytes = Counter(label: "toolworker_event_bytes_received_total")
    static let jobsParked = Counter(label: "toolworker_jobs_parked_total")

    /// A loop moved to a `fallback:` provider (provider names come from the configuration: a closed set).
    static func failover(from: String, to: String) {
        Counter(label: "toolworker_failovers_total", dimensions: [("from", from), ("to", to)]).increment()
    }

    static func runEnded(_ status: OutcomeStatus, rounds: Int) {
        Counter(label: "toolworker_runs_ended_total", dimensions: [("status", status.rawValue)]).increment()
        guard status != .suspended else { return }
        Recorder(label: "toolworker_run_rounds", aggregate: true).record(rounds)
    }

    /// A request's tokens by kind, and its cost. `model` is a priced model's name or `unpriced`: a server cannot grow
    /// the label set with model names of its choosing.
    static func usage(_ record: UsageRecord, model: String) {
        let kinds: [(String, Int64)] = [
            ("input", record.tokens.input - record.tokens.cachedInput), ("cached_input", record.tokens.cachedInput),
            ("output", record.tokens.output - record.tokens.reasoning), ("reasoning", record.tokens.reasoning),
        ]
        for (kind, count) in kinds where count > 0 {
            Counter(label: "toolworker_tokens_total", dimensions: [("model", model), ("kind", kind)]).increment(by: count)
        }
        if let cost = record.cost, let currency = record.currency {
            FloatingPointCounter(label: "toolworker_cost_total", dimensions: [("model", model), ("currency", currency)]).increment(by: cost)
        }
    }

    static func toolCallEnded(_ call: ResolvedCall, state: ToolCallState, duration: Duration?) {
        let tool = call.executor == nil ? "unregistered" : call.call.name
        Counter(label: "toolworker_tool_calls_total", dimensions: [("tool", tool), ("state", state.rawValue)]).increment()
        if let duration {
            Timer(label: "toolworker_handler_duration_seconds", dimensions: [("tool", tool)])
                .recordNanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
        }
    }
}
