/// Which new traces are recorded and exported (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`).
public enum Sampler: Sendable, Equatable {
    case alwaysOn
    case alwaysOff
    /// A trace whose id falls in this fraction of the id space.
    case traceIDRatio(Double)
    /// A span with a parent follows the parent's decision; a root follows `root`.
    indirect case parentBased(root: Sampler)

    /// The sampler the OpenTelemetry variables name; `nil` (with the reason) for a name it does not know.
    public static func named(_ name: String?, argument: String?) -> Result<Sampler, SamplerError> {
        let ratio = argument.flatMap(Double.init).map { min(1, max(0, $0)) } ?? 1
        switch name?.lowercased() ?? "parentbased_always_on" {
        case "always_on": return .success(.alwaysOn)
        case "always_off": return .success(.alwaysOff)
        case "traceidratio": return .success(.traceIDRatio(ratio))
        case "parentbased_always_on": return .success(.parentBased(root: .alwaysOn))
        case "parentbased_always_off": return .success(.parentBased(root: .alwaysOff))
        case "parentbased_traceidratio": return .success(.parentBased(root: .traceIDRatio(ratio)))
        case let other: return .failure(SamplerError(name: other))
        }
    }

    /// Whether a new span of trace `traceID` is sampled, given its parent's decision (`nil` for a root).
    public func samples(traceID: [UInt8], parentSampled: Bool?) -> Bool {
        switch self {
        case .alwaysOn: return true
        case .alwaysOff: return false
        case .traceIDRatio(let ratio):
            if ratio >= 1 { return true }
            if ratio <= 0 { return false }
            // The trace id's last 8 bytes as a number, against the ratio of the whole range (as the SDKs do).
            let value = traceID.suffix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } >> 1
            return Double(value) < ratio * Double(UInt64.max >> 1)
        case .parentBased(let root):
            return parentSampled ?? root.samples(traceID: traceID, parentSampled: nil)
        }
    }
}

/// An `OTEL_TRACES_SAMPLER` this build does not know.
public struct SamplerError: Error, Sendable, CustomStringConvertible {
    public let name: String
    public var description: String {
        "OTEL_TRACES_SAMPLER=\(name) is not one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio"
    }
}
