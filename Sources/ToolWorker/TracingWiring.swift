import Foundation
import Logging
import RunLoopCore

/// OpenTelemetry traces for `serve` and `run`, when the standard `OTEL_*` variables name an OTLP endpoint: the
/// tracer is bootstrapped and the exporter returned, to be flushed before the process ends. A variable that cannot
/// be used is logged and tracing stays off; the work goes on.
func startTracing(logger: Logger) -> OTLPExporter? {
    do {
        guard let configuration = try TelemetryConfiguration.fromEnvironment(ProcessInfo.processInfo.environment) else { return nil }
        logger.info("exporting traces over OTLP/HTTP", metadata: [
            "endpoint": "\(OTLPExporter.masked(configuration.endpoint))", "sampler": "\(configuration.sampler)",
            "conventions": "gen_ai \(RunDriver.genAIConventions)",
        ])
        return TelemetryBootstrap.start(configuration, logger: logger)
    } catch {
        logger.error("OpenTelemetry configuration refused; traces are off", metadata: ["error": "\(error)"])
        return nil
    }
}

/// Whether tool arguments and results go on spans (`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`).
var tracesContent: Bool {
    ProcessInfo.processInfo.environment["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"]?.lowercased() == "true"
}
