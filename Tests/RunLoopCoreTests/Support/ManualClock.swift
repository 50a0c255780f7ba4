import Synchronization
import RunLoopCore

/// A ``DriverClock`` whose time moves only when the driver sleeps on it, at once: a test of time-outs, back-offs and
/// expiries takes no wall-clock time, and reads every sleep the driver asked for.
final class ManualClock: DriverClock {
    private let elapsed = Mutex<Duration>(.zero)
    /// Every sleep, in order.
    let sleeps = Mutex<[Duration]>([])
    static let epoch = 1_000_000.0

    func now() -> ClockReading {
        let elapsed = elapsed.withLock { $0 }
        return ClockReading(monotonic: elapsed, unixSeconds: Self.epoch + elapsed.seconds)
    }

    func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        elapsed.withLock { $0 += duration }
        sleeps.withLock { $0.append(duration) }
        await Task.yield()
    }

    var time: Duration { elapsed.withLock { $0 } }
}
