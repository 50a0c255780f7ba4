import Instrumentation
import Logging
import Tracing

/// Turns tracing on for the process (once): the OTLP tracer becomes the instrumentation system's.
public enum TelemetryBootstrap {
    /// Bootstraps an ``OTLPTracer`` exporting per `configuration`; returns its exporter (flush it before exit).
    public static func start(_ configuration: TelemetryConfiguration, logger: Logger) -> OTLPExporter {
        let exporter = OTLPExporter(configuration: configuration, logger: logger)
        InstrumentationSystem.bootstrap(OTLPTracer(exporter: exporter, sampler: configuration.sampler))
        return exporter
    }
}
