import Instrumentation
import Synchronization
import Tracing

/// A span as it is exported: everything the OTLP `Span` message carries that ToolWorker sets.
public struct FinishedSpan: Sendable {
    public var name: String
    public var kind: SpanKind
    public var context: SpanContext
    public var parentSpanID: [UInt8]?
    public var startNanoseconds: UInt64
    public var endNanoseconds: UInt64
    public var attributes: [(key: String, value: SpanAttribute)]
    public var events: [SpanEvent]
    /// OTLP status: 0 unset, 1 ok, 2 error.
    public var statusCode: Int
    public var statusMessage: String?
}

/// A span of ``OTLPTracer``: attributes, events and status kept until it ends, then handed to the exporter (when
/// sampled). Safe to use from any task.
public final class OTLPSpan: Tracing.Span {
    private struct State {
        var name: String
        var attributes = SpanAttributes()
        var events: [SpanEvent] = []
        var status: SpanStatus?
        var ended = false
    }

    public let context: InstrumentationContext
    private let kind: SpanKind
    private let spanContext: SpanContext
    private let parentSpanID: [UInt8]?
    private let start: UInt64
    private let exporter: OTLPExporter?
    private let state: Mutex<State>

    init(
        name: String, kind: SpanKind, context: InstrumentationContext, spanContext: SpanContext, parentSpanID: [UInt8]?,
        start: UInt64, exporter: OTLPExporter?
    ) {
        self.context = context
        self.kind = kind
        self.spanContext = spanContext
        self.parentSpanID = parentSpanID
        self.start = start
        self.exporter = spanContext.sampled ? exporter : nil
        state = Mutex(State(name: name))
    }

    public var operationName: String {
        get { state.withLock { $0.name } }
        set { state.withLock { $0.name = newValue } }
    }

    public var attributes: SpanAttributes {
        get { state.withLock { $0.attributes } }
        set { state.withLock { $0.attributes = newValue } }
    }

    public var isRecording: Bool { exporter != nil && !state.withLock { $0.ended } }

    public func setStatus(_ status: SpanStatus) {
        state.withLock { $0.status = status }
    }

    public func addEvent(_ event: SpanEvent) {
        state.withLock { if $0.events.count < 128 { $0.events.append(event) } }
    }

    public func recordError<Instant: TracerInstant>(_ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant) {
        var eventAttributes = attributes
        eventAttributes["exception.type"] = "\(type(of: error))"
        eventAttributes["exception.message"] = "\(error)"
        addEvent(SpanEvent(name: "exception", at: instant(), attributes: eventAttributes))
    }

    public func addLink(_ link: SpanLink) {}

    public func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        let end = instant().nanosecondsSinceEpoch
        guard let finished = state.withLock({ state -> FinishedSpan? in
            guard !state.ended else { return nil }
            state.ended = true
            guard exporter != nil else { return nil }
            var attributes: [(key: String, value: SpanAttribute)] = []
            state.attributes.forEach { attributes.append(($0, $1)) }
            return FinishedSpan(
                name: state.name, kind: kind, context: spanContext, parentSpanID: parentSpanID, startNanoseconds: start,
                endNanoseconds: max(end, start), attributes: attributes.sorted { $0.key < $1.key }, events: state.events,
                statusCode: state.status.map { $0.code == .error ? 2 : 1 } ?? 0, statusMessage: state.status?.message)
        }) else { return }
        exporter?.enqueue(finished)
    }
}
