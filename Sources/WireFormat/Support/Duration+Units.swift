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

    /// The longest duration ``parse(_:requireUnit:)`` accepts: 100 years. Anything longer is a typo, and beyond
    /// about 292 years a duration no longer fits the nanosecond clocks it is handed to.
    public static let parseLimit: Duration = .seconds(100 * 365 * 86_400)

    /// Parses `500ms`, `30s`, `5m`, `1h`, `1d` or `2w`; a bare number is seconds unless `requireUnit` is set.
    /// The sign is kept: callers decide which values are allowed. Not a number, infinite, NaN, or longer than
    /// ``parseLimit`` in either direction: `nil`.
    public static func parse(_ text: String, requireUnit: Bool = false) -> Duration? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400), ("w", 604_800)]
        var milliseconds: Double?
        if let (suffix, factor) = units.first(where: { trimmed.hasSuffix($0.0) }) {
            milliseconds = Double(trimmed.dropLast(suffix.count)).map { $0 * factor * 1000 }
        } else if !requireUnit {
            milliseconds = Double(trimmed).map { $0 * 1000 }
        }
        guard let milliseconds, milliseconds.isFinite, abs(milliseconds) <= Double(parseLimit.milliseconds) else { return nil }
        return .milliseconds(Int64(milliseconds))
    }
}
