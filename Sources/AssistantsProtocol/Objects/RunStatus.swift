import WireFormat
/// A run's `status`. An open set: a status this build does not know is kept as its raw value.
public struct RunStatus: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let queued = RunStatus(rawValue: "queued")
    public static let inProgress = RunStatus(rawValue: "in_progress")
    public static let requiresAction = RunStatus(rawValue: "requires_action")
    public static let cancelling = RunStatus(rawValue: "cancelling")
    public static let cancelled = RunStatus(rawValue: "cancelled")
    public static let failed = RunStatus(rawValue: "failed")
    public static let completed = RunStatus(rawValue: "completed")
    public static let incomplete = RunStatus(rawValue: "incomplete")
    public static let expired = RunStatus(rawValue: "expired")

    /// `completed`, `failed`, `cancelled`, `expired` and `incomplete`: the run will not change again.
    public var isTerminal: Bool {
        [.completed, .failed, .cancelled, .expired, .incomplete].contains(self)
    }

    public var description: String { rawValue }
}
