/// What every kind of tool's configuration shares (handlers, `shell:`, `apply_patch:`, MCP servers): how long a
/// call may run, how much output it keeps, what a call interrupted by a crash gets, whether it waits for a person,
/// and the sandbox it runs in. The configuration reads it with one function for every kind; executors read it
/// through ``ToolExecutor/policy``.
public struct ToolPolicy: Sendable, Equatable {
    /// The policy's settings a kind of tool takes from its configuration (the others do not apply to it).
    public struct Keys: OptionSet, Sendable, Hashable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        public static let timeout = Keys(rawValue: 1 << 0)
        public static let maxOutputBytes = Keys(rawValue: 1 << 1)
        public static let onRestart = Keys(rawValue: 1 << 2)
        public static let approval = Keys(rawValue: 1 << 3)
        public static let limits = Keys(rawValue: 1 << 4)
        public static let all: Keys = [.timeout, .maxOutputBytes, .onRestart, .approval, .limits]
    }

    /// `timeout`: the longest a call may run (`limits.time`, when set, is the time-out).
    public var timeout: Duration
    /// `max_output_bytes`: output above this many bytes is cut, with a marker.
    public var maxOutputBytes: Int
    /// `on_restart`: what a call whose tool was running when the process died gets at the next start.
    public var onRestart: RestartPolicy
    /// `approval`: when a call waits for a person's word before it runs.
    public var approval: ApprovalRule = .never
    /// `limits`: the sandbox each call runs in (empty: none).
    public var limits = ToolLimits()
    /// Which of these the kind takes from its configuration.
    public let keys: Keys

    /// The ceiling of `max_output_bytes`: 16 MiB (an output is held in memory, stored and submitted whole).
    public static let maximumOutputBytes = 16 * 1024 * 1024

    public init(timeout: Duration = .seconds(30), maxOutputBytes: Int = 65_536, onRestart: RestartPolicy, keys: Keys = .all) {
        self.timeout = timeout
        self.maxOutputBytes = maxOutputBytes
        self.onRestart = onRestart
        self.keys = keys
    }

    /// The time-out of one call: the policy's, shortened to the loop's deadline when that comes first (never below
    /// one second, so the call gets a chance to say something). The one clamp every executor uses.
    public func callTimeout(_ execution: ToolExecution) -> Duration {
        guard let deadline = execution.deadline else { return timeout }
        return max(.seconds(1), min(timeout, deadline - .now))
    }
}
