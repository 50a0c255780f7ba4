import WorkModel
import WireFormat
import Foundation
import Synchronization

/// The process groups of the handlers running in this process, so a command stopped by a signal can stop them
/// too instead of leaving them orphaned (a later restart would otherwise rerun a call beside the orphan).
///
/// A handler that double-forks out of its process group (`setsid` in the handler) escapes this: a documented limit.
public enum HandlerProcessGroups {
    private static let groups = Mutex<Set<pid_t>>([])
    private static let stoppingFlag = Atomic<Bool>(false)

    /// Set by ``terminateAll(grace:)``: the process is stopping, and a handler that ends now was stopped by us, so
    /// its result is no outcome (the call stays `running`).
    public static var isStopping: Bool { stoppingFlag.load(ordering: .acquiring) }

    static func insert(_ group: pid_t) { _ = groups.withLock { $0.insert(group) } }
    static func remove(_ group: pid_t) { _ = groups.withLock { $0.remove(group) } }

    /// The groups running now.
    public static var current: Set<pid_t> { groups.withLock { $0 } }

    /// SIGTERM to every handler group, then SIGKILL to those still there after `grace`. Blocks the calling
    /// thread (a signal handler's queue, at exit).
    public static func terminateAll(grace: Duration = .seconds(2)) {
        stoppingFlag.store(true, ordering: .releasing)
        let running = current
        guard !running.isEmpty else { return }
        for group in running { kill(-group, SIGTERM) }
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline, running.contains(where: { kill(-$0, 0) == 0 }) {
            usleep(20_000)
        }
        for group in running { kill(-group, SIGKILL) }
    }
}
