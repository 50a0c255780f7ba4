import Foundation

/// A moment as the driver reads it: a monotonic instant for intervals, and the wall clock for a server's
/// `expires_at`.
public struct ClockReading: Sendable, Equatable {
    /// Time since an arbitrary origin, never going back.
    public var monotonic: Duration
    /// Unix time in seconds.
    public var unixSeconds: Double

    public init(monotonic: Duration, unixSeconds: Double) {
        self.monotonic = monotonic
        self.unixSeconds = unixSeconds
    }
}

/// The time the driver and its machine see. Injected, so time-outs, back-offs, expiries and approval deadlines
/// are tested without sleeping (``ManualClock``).
public protocol DriverClock: Sendable {
    func now() -> ClockReading
    func sleep(for duration: Duration) async throws
}

/// The real clocks: `ContinuousClock` and the system's wall time.
public struct SystemDriverClock: DriverClock {
    private let origin = ContinuousClock.now

    public init() {}

    public func now() -> ClockReading {
        ClockReading(monotonic: ContinuousClock.now - origin, unixSeconds: Date().timeIntervalSince1970)
    }

    public func sleep(for duration: Duration) async throws {
        guard duration > .zero else { return }
        try await Task.sleep(for: duration)
    }
}
