import Foundation
import WireFormat

/// Where and how spans are exported, read from the standard OpenTelemetry variables. Tracing is off unless an OTLP
/// endpoint is given.
///
/// | variable | use |
/// | --- | --- |
/// | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | the URL spans are posted to, as given |
/// | `OTEL_EXPORTER_OTLP_ENDPOINT` | else this base URL plus `/v1/traces` |
/// | `OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL` | `http/protobuf` (the default and the only one) |
/// | `OTEL_EXPORTER_OTLP[_TRACES]_HEADERS` | `key=value,…`, values percent-decoded |
/// | `OTEL_EXPORTER_OTLP[_TRACES]_TIMEOUT` | milliseconds (10000) |
/// | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` | ``Sampler`` (`parentbased_always_on`) |
/// | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` | the resource (`service.name` `toolworker`) |
/// | `OTEL_TRACES_EXPORTER=none`, `OTEL_SDK_DISABLED=true` | off |
/// | `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true` | tool arguments and results on `execute_tool` spans |
public struct TelemetryConfiguration: Sendable {
    public var endpoint: String
    public var headers: [(name: String, value: String)] = []
    public var timeout: Duration = .seconds(10)
    public var sampler: Sampler = .parentBased(root: .alwaysOn)
    public var serviceName = "toolworker"
    public var resourceAttributes: [(key: String, value: String)] = []
    /// Whether tool arguments and results go on spans (off by default: they may hold what a model should keep).
    public var captureContent = false

    public init(endpoint: String) { self.endpoint = endpoint }

    /// The configuration the variables give; `nil` when tracing is off.
    /// - Throws: ``TelemetryConfigurationError`` naming the variable that cannot be used.
    public static func fromEnvironment(_ environment: [String: String]) throws(TelemetryConfigurationError) -> TelemetryConfiguration? {
        func value(_ name: String) -> String? {
            environment[name].flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0.trimmingCharacters(in: .whitespaces) }
        }
        func either(_ suffix: String) -> (name: String, value: String)? {
            if let traces = value("OTEL_EXPORTER_OTLP_TRACES_\(suffix)") { return ("OTEL_EXPORTER_OTLP_TRACES_\(suffix)", traces) }
            return value("OTEL_EXPORTER_OTLP_\(suffix)").map { ("OTEL_EXPORTER_OTLP_\(suffix)", $0) }
        }
        if value("OTEL_SDK_DISABLED")?.lowercased() == "true" { return nil }
        if let exporter = value("OTEL_TRACES_EXPORTER")?.lowercased() {
            if exporter == "none" { return nil }
            guard exporter == "otlp" else { throw TelemetryConfigurationError("OTEL_TRACES_EXPORTER", "only otlp (or none) is supported, not '\(exporter)'") }
        }
        let endpoint: String
        if let traces = value("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            endpoint = traces
        } else if var base = value("OTEL_EXPORTER_OTLP_ENDPOINT") {
            while base.hasSuffix("/") { base.removeLast() }
            endpoint = base + "/v1/traces"
        } else {
            return nil
        }
        guard let url = URL(string: endpoint), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host != nil else {
            throw TelemetryConfigurationError("OTEL_EXPORTER_OTLP_ENDPOINT", "'\(endpoint)' is not an http or https URL")
        }
        var configuration = TelemetryConfiguration(endpoint: endpoint)
        if let (name, proto) = either("PROTOCOL"), proto != "http/protobuf" {
            throw TelemetryConfigurationError(name, "only http/protobuf is supported, not '\(proto)'")
        }
        if let (name, text) = either("HEADERS") {
            for pair in text.split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, !parts[0].isEmpty, let decoded = parts[1].removingPercentEncoding,
                      parts[0].unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F && $0 != ":" }),
                      decoded.unicodeScalars.allSatisfy({ $0.value == 0x09 || ($0.value >= 0x20 && $0.value != 0x7F) })
                else {
                    // The value may be a credential: the variable is named, its text is not repeated.
                    throw TelemetryConfigurationError(name, "takes key=value pairs separated by commas, with header-safe values")
                }
                configuration.headers.append((parts[0], decoded))
            }
        }
        if let (name, text) = either("TIMEOUT") {
            guard let milliseconds = Int64(text), milliseconds > 0 else { throw TelemetryConfigurationError(name, "takes milliseconds above 0, not '\(text)'") }
            configuration.timeout = .milliseconds(milliseconds)
        }
        switch Sampler.named(value("OTEL_TRACES_SAMPLER"), argument: value("OTEL_TRACES_SAMPLER_ARG")) {
        case .success(let sampler): configuration.sampler = sampler
        case .failure(let error): throw TelemetryConfigurationError("OTEL_TRACES_SAMPLER", error.description)
        }
        for pair in (value("OTEL_RESOURCE_ATTRIBUTES") ?? "").split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty else { continue }
            let decoded = parts[1].removingPercentEncoding ?? parts[1]
            if parts[0] == "service.name" { configuration.serviceName = decoded } else { configuration.resourceAttributes.append((parts[0], decoded)) }
        }
        if let name = value("OTEL_SERVICE_NAME") { configuration.serviceName = name }
        configuration.captureContent = value("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")?.lowercased() == "true"
        return configuration
    }
}

/// An OpenTelemetry variable that cannot be used.
public struct TelemetryConfigurationError: Error, Sendable, CustomStringConvertible {
    public let variable: String
    public let problem: String
    init(_ variable: String, _ problem: String) {
        self.variable = variable
        self.problem = problem
    }
    public var description: String { "\(variable): \(problem)" }
}
