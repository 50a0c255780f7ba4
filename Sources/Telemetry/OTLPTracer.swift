import Instrumentation
import Tracing

/// The tracer `serve` and `run` bootstrap when an OTLP endpoint is configured: spans get W3C ids (a child keeps its
/// parent's trace), the sampler decides per trace, and ended sampled spans go to the ``OTLPExporter``. Contexts
/// travel as `traceparent` (and `tracestate`) through ``inject(_:into:using:)`` and ``extract(_:into:using:)``.
public final class OTLPTracer: Tracer {
    public typealias Span = OTLPSpan

    public let exporter: OTLPExporter
    let sampler: Sampler

    public init(exporter: OTLPExporter, sampler: Sampler) {
        self.exporter = exporter
        self.sampler = sampler
    }

    public func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> InstrumentationContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> OTLPSpan {
        var context = context()
        let parent = context.spanContext
        var random = SystemRandomNumberGenerator()
        let traceID = parent?.traceID ?? Self.randomID(16, &random)
        let sampled = sampler.samples(traceID: traceID, parentSampled: parent?.sampled)
        let spanContext = SpanContext(traceID: traceID, spanID: Self.randomID(8, &random), sampled: sampled, traceState: parent?.traceState)
        context.spanContext = spanContext
        return OTLPSpan(
            name: operationName, kind: kind, context: context, spanContext: spanContext, parentSpanID: parent?.spanID,
            start: instant().nanosecondsSinceEpoch, exporter: exporter)
    }

    @available(*, deprecated)
    public func forceFlush() {
        Task { await exporter.flush() }
    }

    public func inject<Carrier, Inject>(_ context: InstrumentationContext, into carrier: inout Carrier, using injector: Inject)
    where Inject: Injector, Inject.Carrier == Carrier {
        guard let spanContext = context.spanContext else { return }
        injector.inject(spanContext.traceparent, forKey: "traceparent", into: &carrier)
        if let state = spanContext.traceState { injector.inject(state, forKey: "tracestate", into: &carrier) }
    }

    public func extract<Carrier, Extract>(_ carrier: Carrier, into context: inout InstrumentationContext, using extractor: Extract)
    where Extract: Extractor, Extract.Carrier == Carrier {
        guard let parent = extractor.extract(key: "traceparent", from: carrier),
              let spanContext = SpanContext(traceparent: parent, traceState: extractor.extract(key: "tracestate", from: carrier))
        else { return }
        context.spanContext = spanContext
    }

    /// Random bytes, not all zero.
    static func randomID(_ count: Int, _ random: inout SystemRandomNumberGenerator) -> [UInt8] {
        while true {
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
            if bytes.contains(where: { $0 != 0 }) { return bytes }
        }
    }
}
