import Foundation

extension Duration {
    /// Whole milliseconds (truncated), for C APIs, headers and log fields that take integers.
    public var milliseconds: Int {
        Int(components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000)
    }

    /// Seconds as a floating-point number.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    /// Parses `500ms`, `30s`, `5m`, `1h`, `1d` or `2w`; a bare number is seconds unless `requireUnit` is set.
    /// The sign is kept: callers decide which values are allowed.
    public static func parse(_ text: String, requireUnit: Bool = false) -> Duration? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400), ("w", 604_800)]
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            if let number = Double(trimmed.dropLast(suffix.count)) { return .milliseconds(Int64(number * factor * 1000)) }
        }
        if requireUnit { return nil }
        return Double(trimmed).map { .milliseconds(Int64($0 * 1000)) }
    }
}
