import Foundation
import WireFormat

/// sd_notify(3) without libsystemd: one datagram to `$NOTIFY_SOCKET` (a path, or an abstract name starting
/// with `@`). Does nothing when the variable is unset, so the same binary runs under systemd and in a terminal.
public struct SystemdNotifier: Sendable {
    public let socketPath: String?
    /// Half of `$WATCHDOG_USEC` when the watchdog is on for this process, else `nil`.
    public let watchdogInterval: Duration?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        if let usec = environment["WATCHDOG_USEC"].flatMap(UInt64.init), usec > 0,
            environment["WATCHDOG_PID"].flatMap(Int32.init).map({ $0 == getpid() }) ?? true
        {
            watchdogInterval = .microseconds(Int64(usec / 2))
        } else {
            watchdogInterval = nil
        }
    }

    public var isEnabled: Bool { socketPath != nil }

    /// Sends `KEY=VALUE` lines; returns `false` when there is no socket or the datagram was not delivered (never
    /// throws: a notification is best effort and must not take the service down).
    ///
    /// The send never blocks the caller for long: a service manager that stops reading its socket (its queue holds
    /// `net.unix.max_dgram_qlen` datagrams, 10 by default) must not stall the scheduler loop that sends `WATCHDOG=1`
    /// or keep `serve` from stopping. A state change (`READY`, `STOPPING`, `RELOADING`) waits up to `patience` for
    /// room in the queue; anything else is dropped at once when the queue is full.
    /// - Parameter patience: how long to wait for room instead (`nil`: as just described).
    @discardableResult
    public func notify(_ fields: [(String, String)], patience: Duration? = nil) -> Bool {
        guard let path = socketPath, path.hasPrefix("/") || path.hasPrefix("@") else { return false }
        let message = fields.map { "\($0.0)=\($0.1.replacingOccurrences(of: "\n", with: " "))" }.joined(separator: "\n")
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes[0] == UInt8(ascii: "@") { bytes[0] = 0 }
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes[0] == 0 ? 0 : 1))
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        // Connected, so that poll(2) reports room in the manager's queue.
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
        }
        guard connected == 0 else { return false }
        let isStateChange = fields.contains { ["READY", "STOPPING", "RELOADING"].contains($0.0) }
        let wait = patience ?? (isStateChange ? Self.stateChangePatience : .zero)
        let deadline = ContinuousClock.now + wait
        while true {
            let sent = message.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
            if sent >= 0 { return true }
            if errno == EINTR { continue }
            guard errno == EAGAIN || errno == EWOULDBLOCK else { return false }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return false }
            var pollFD = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            _ = poll(&pollFD, 1, Int32(max(1, min(left.milliseconds, 100))))
        }
    }

    /// How long a state change waits for room in a full notify queue before it is given up.
    public static let stateChangePatience: Duration = .seconds(1)

    @discardableResult public func ready(status: String) -> Bool { notify([("READY", "1"), ("STATUS", status)]) }
    public func status(_ text: String) { notify([("STATUS", text)]) }
    public func watchdog() { notify([("WATCHDOG", "1")]) }
    @discardableResult public func stopping() -> Bool { notify([("STOPPING", "1")]) }

    /// `RELOADING=1` with the monotonic time systemd (≥ 253) expects alongside it.
    @discardableResult public func reloading() -> Bool {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let usec = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
        return notify([("RELOADING", "1"), ("MONOTONIC_USEC", String(usec))])
    }
}
