/// `limits:` of a tool (or of `shell:`, or an MCP server): what one call may use. Each limit is enforced by the
/// host's mechanism (``SandboxHost``) or refused at start, never ignored.
public struct ToolLimits: Sendable, Equatable {
    /// `memory`: bytes of memory (RSS and page cache together, swap included) the call's processes may hold; past
    /// it the kernel kills them and the call ends `oom`.
    public var memoryBytes: Int?
    /// `cpu`: percent of one CPU (`50%`; `200%` is two CPUs' worth).
    public var cpuPercent: Int?
    /// `tasks`: processes and threads the call may have at once.
    public var tasks: Int?
    /// `network: false` gives the call a network namespace of its own: no interface but loopback, nothing reachable.
    public var network = true
    /// `writable`: when set, the whole file system is read-only to the call except these folders (and a private
    /// `/tmp`).
    public var writable: [String]?
    /// `sockets`: Unix socket files a call with `network: false` may still connect to (every other one of the
    /// host's is hidden from it).
    public var sockets: [String] = []
    /// `time`: the longest a call may run (it replaces the tool's `timeout`); with a sandbox, the whole call's
    /// processes are killed when it passes.
    public var time: Duration?

    public init() {}

    /// Nothing set: the call runs as before, with no sandbox around it.
    public var isEmpty: Bool { self == ToolLimits() }

    /// Limits that need a control group of the call's own.
    public var needsControlGroup: Bool { memoryBytes != nil || cpuPercent != nil || tasks != nil }

    /// Limits that need namespaces (bubblewrap).
    public var needsNamespaces: Bool { !network || writable != nil }

    /// The limits, as an operator wrote them, for messages and the journal.
    public var summary: String {
        var parts: [String] = []
        if let memoryBytes { parts.append("memory \(Self.bytes(memoryBytes))") }
        if let cpuPercent { parts.append("cpu \(cpuPercent)%") }
        if let tasks { parts.append("tasks \(tasks)") }
        if !network { parts.append("no network") }
        if let time { parts.append("time \(time)") }
        if !sockets.isEmpty { parts.append("sockets \(sockets.joined(separator: ","))") }
        if let writable { parts.append(writable.isEmpty ? "read-only file system" : "writable \(writable.joined(separator: ","))") }
        return parts.joined(separator: ", ")
    }

    /// `256 MiB`, `1.5 GiB`.
    public static func bytes(_ count: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return value == value.rounded() ? "\(Int(value)) \(units[unit])" : "\((value * 10).rounded() / 10) \(units[unit])"
    }

    /// `256M`, `1G`, `512K`, `1048576` (bytes; K/M/G/T are powers of 1024, an optional `i`/`B` is accepted).
    public static func parseBytes(_ text: String) -> Int? {
        var digits = Substring(text.trimmingCharacters(in: .whitespaces))
        for suffix in ["iB", "B", "i"] where digits.hasSuffix(suffix) && digits.count > suffix.count {
            digits = digits.dropLast(suffix.count)
            break
        }
        var multiplier = 1
        if let last = digits.last, let power = ["K": 1, "M": 2, "G": 3, "T": 4][String(last).uppercased()] {
            multiplier = 1 << (10 * power)
            digits = digits.dropLast()
        }
        guard let number = Int(digits), number > 0 else { return nil }
        let (product, overflow) = number.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : product
    }

    /// `50%` (or `50`): 1 to 10,000 percent of one CPU.
    public static func parsePercent(_ text: String) -> Int? {
        var digits = Substring(text.trimmingCharacters(in: .whitespaces))
        if digits.hasSuffix("%") { digits = digits.dropLast() }
        guard let number = Int(digits), (1...10_000).contains(number) else { return nil }
        return number
    }
}

import Foundation
