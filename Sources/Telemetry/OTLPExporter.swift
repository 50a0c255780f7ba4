import CoreMetrics
import Foundation
import HTTPTransport
import Logging
import Synchronization
import WireFormat

/// Sends ended spans to the OTLP/HTTP endpoint in batches: at most every second, or at once when 512 wait. The queue
/// is bounded (2,048 spans; past it the oldest are dropped and counted). A collector that is down or refuses costs a
/// counter (`toolworker_trace_export_failures_total`) and one log line a minute, never a stall: runs do not wait
/// for their spans.
public final class OTLPExporter: Sendable {
    private struct State {
        var queue: [FinishedSpan] = []
        var scheduled = false
        var lastFailureLog: ContinuousClock.Instant?
        var failuresSinceLog = 0
    }

    public let configuration: TelemetryConfiguration
    private let http: HTTPClient
    private let logger: Logger
    private let state = Mutex(State())
    private static let batchSize = 512
    private static let queueLimit = 2_048

    public init(configuration: TelemetryConfiguration, logger: Logger) {
        self.configuration = configuration
        var http = HTTPClientConfiguration()
        http.connectTimeout = min(configuration.timeout, .seconds(5))
        http.requestTimeout = configuration.timeout
        self.http = HTTPClient(configuration: http)
        self.logger = logger
    }

    /// Queues an ended span; schedules an export when none is pending.
    func enqueue(_ span: FinishedSpan) {
        let (schedule, dropped) = state.withLock { state -> (Bool, Int) in
            state.queue.append(span)
            var dropped = 0
            if state.queue.count > Self.queueLimit {
                dropped = state.queue.count - Self.queueLimit
                state.queue.removeFirst(dropped)
            }
            let schedule = !state.scheduled
            state.scheduled = true
            return (schedule, dropped)
        }
        if dropped > 0 { Counter(label: "toolworker_trace_spans_dropped_total").increment(by: dropped) }
        guard schedule else { return }
        Task.detached { [self] in
            try? await Task.sleep(for: .seconds(1))
            await flush()
        }
    }

    /// Exports every queued span now, in batches.
    public func flush() async {
        while true {
            let batch = state.withLock { state -> [FinishedSpan] in
                let batch = Array(state.queue.prefix(Self.batchSize))
                state.queue.removeFirst(batch.count)
                if state.queue.isEmpty { state.scheduled = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            await export(batch)
        }
    }

    private func export(_ spans: [FinishedSpan]) async {
        let body = OTLPEncoding.exportRequest(
            spans, serviceName: configuration.serviceName, resourceAttributes: configuration.resourceAttributes,
            scopeVersion: ToolWorkerVersion.string)
        let request = HTTPRequest(
            method: .post, url: configuration.endpoint,
            headers: [("Content-Type", "application/x-protobuf"), ("User-Agent", "ToolWorker/\(ToolWorkerVersion.string)")]
                + configuration.headers,
            body: body)
        let problem: String?
        do {
            let (head, answer) = try await http.send(request, limit: 64 * 1024)
            problem = (200..<300).contains(head.status)
                ? nil : "HTTP \(head.status): \(String(decoding: answer.prefix(200), as: UTF8.self))"
        } catch {
            problem = "\(error)"
        }
        if let problem {
            Counter(label: "toolworker_trace_export_failures_total").increment()
            Counter(label: "toolworker_trace_spans_dropped_total").increment(by: spans.count)
            noteFailure(problem, spans: spans.count)
        } else {
            Counter(label: "toolworker_trace_spans_exported_total").increment(by: spans.count)
        }
    }

    /// The endpoint without user, password or query (which may carry a credential).
    public static func masked(_ endpoint: String) -> String {
        guard var components = URLComponents(string: endpoint) else { return "<unparseable URL>" }
        components.user = nil
        components.password = nil
        components.query = nil
        return components.string ?? "<unparseable URL>"
    }

    /// One log line a minute at most, counting the failures it stands for.
    private func noteFailure(_ problem: String, spans: Int) {
        let now = ContinuousClock.now
        let report = state.withLock { state -> Int? in
            state.failuresSinceLog += 1
            if let last = state.lastFailureLog, now - last < .seconds(60) { return nil }
            state.lastFailureLog = now
            defer { state.failuresSinceLog = 0 }
            return state.failuresSinceLog
        }
        guard let failures = report else { return }
        logger.warning("could not export traces; spans are dropped until the collector answers", metadata: [
            "endpoint": "\(Self.masked(configuration.endpoint))", "error": "\(problem)", "failed_exports": "\(failures)", "spans": "\(spans)",
        ])
    }
}
