import Foundation
import Synchronization

/// The control group of one call: made before the call starts with its limits written, joined by the call's first
/// process before it executes anything, and after the call every process still in it is killed (grandchildren that
/// left the process group included) and the group removed.
struct CallControlGroup: Sendable {
    /// One folder per hierarchy the limits use (v2: one).
    let folders: [String]
    let unified: Bool

    /// The files a process writes its pid to, to join.
    var joinFiles: [String] { folders.map { "\($0)/cgroup.procs" } }

    private static let counter = Atomic<Int>(0)
    private static let unifiedPrepared = Mutex<Set<String>>([])

    /// Makes the group and writes `limits` into it.
    static func create(in hierarchy: ControlGroupHierarchy, limits: ToolLimits) throws(SandboxError) -> CallControlGroup {
        let name = "toolworker-call-\(getpid())-\(counter.wrappingAdd(1, ordering: .relaxed).newValue)"
        switch hierarchy {
        case .unified(let base):
            try prepareUnified(base)
            let folder = "\(base)/\(name)"
            try makeFolder(folder)
            let group = CallControlGroup(folders: [folder], unified: true)
            do {
                if let memory = limits.memoryBytes {
                    try write("\(memory)", to: "\(folder)/memory.max")
                    try? write("0", to: "\(folder)/memory.swap.max")
                    try? write("1", to: "\(folder)/memory.oom.group")
                }
                if let cpu = limits.cpuPercent { try write("\(cpu * 1000) 100000", to: "\(folder)/cpu.max") }
                if let tasks = limits.tasks { try write("\(tasks)", to: "\(folder)/pids.max") }
            } catch {
                group.killAndRemove()
                throw error
            }
            return group
        case .perController(let memory, let cpu, let pids):
            // Every available hierarchy, so that the kill afterwards finds every process even without limits there.
            var folders: [String] = []
            do {
                for base in hierarchy.bases {
                    let folder = "\(base)/\(name)"
                    try makeFolder(folder)
                    folders.append(folder)
                }
                let group = CallControlGroup(folders: folders, unified: false)
                if let bytes = limits.memoryBytes, let memory {
                    try write("\(bytes)", to: "\(memory)/\(name)/memory.limit_in_bytes")
                    try? write("\(bytes)", to: "\(memory)/\(name)/memory.memsw.limit_in_bytes")
                }
                if let percent = limits.cpuPercent, let cpu {
                    try write("100000", to: "\(cpu)/\(name)/cpu.cfs_period_us")
                    try write("\(percent * 1000)", to: "\(cpu)/\(name)/cpu.cfs_quota_us")
                }
                if let tasks = limits.tasks, let pids { try write("\(tasks)", to: "\(pids)/\(name)/pids.max") }
                return group
            } catch {
                CallControlGroup(folders: folders, unified: false).killAndRemove()
                throw error
            }
        }
    }

    /// cgroup v2 allows controllers for child groups only in a group without processes of its own: the first time,
    /// this process moves into a leaf `toolworker-daemon` beside the calls' groups and enables the controllers.
    static func prepareUnified(_ base: String) throws(SandboxError) {
        let done = unifiedPrepared.withLock { $0.contains(base) }
        if done { return }
        let available = (ControlGroupHierarchy.read("\(base)/cgroup.controllers") ?? "").split(separator: " ").map(String.init)
        let wanted = ["memory", "cpu", "pids"].filter(available.contains)
        let enabled = (ControlGroupHierarchy.read("\(base)/cgroup.subtree_control") ?? "").split(separator: " ").map(String.init)
        if !wanted.allSatisfy(enabled.contains) {
            let daemon = "\(base)/toolworker-daemon"
            if access(daemon, F_OK) != 0 { try makeFolder(daemon) }
            for pid in (ControlGroupHierarchy.read("\(base)/cgroup.procs") ?? "").split(separator: "\n") {
                try? write(String(pid), to: "\(daemon)/cgroup.procs")
            }
            try write(wanted.map { "+\($0)" }.joined(separator: " "), to: "\(base)/cgroup.subtree_control")
        }
        unifiedPrepared.withLock { _ = $0.insert(base) }
    }

    /// Kills and removes the groups of calls whose daemon is gone (`toolworker-call-PID-N` with no process PID): a
    /// daemon killed mid-call leaves them, with whatever the call still runs. Returns how many were swept.
    static func sweepStale(in hierarchy: ControlGroupHierarchy) -> Int {
        var swept = 0
        for base in hierarchy.bases {
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [] where entry.hasPrefix("toolworker-call-") {
                let parts = entry.dropFirst("toolworker-call-".count).split(separator: "-")
                guard parts.count == 2, let owner = pid_t(parts[0]), kill(owner, 0) != 0, errno == ESRCH else { continue }
                CallControlGroup(folders: ["\(base)/\(entry)"], unified: hierarchy.isUnified).killAndRemove()
                swept += 1
            }
        }
        return swept
    }

    /// Whether the kernel killed a process of the call for going over its memory limit.
    var memoryLimitHit: Bool {
        for folder in folders {
            for file in ["memory.events", "memory.oom_control"] {
                guard let text = ControlGroupHierarchy.read("\(folder)/\(file)") else { continue }
                for line in text.split(separator: "\n") {
                    let fields = line.split(separator: " ")
                    if fields.count == 2, fields[0] == "oom_kill" || fields[0] == "oom_group_kill", let count = Int(fields[1]), count > 0 { return true }
                }
            }
        }
        return false
    }

    /// Kills every process left in the group, waits until it is empty (at most ~2 s), and removes it.
    func killAndRemove() {
        killAll()
        remove()
    }

    /// Kills every process left in the group and waits until it is empty (at most ~2 s).
    func killAll() {
        for folder in folders {
            if unified { try? Self.write("1", to: "\(folder)/cgroup.kill") }
            var pause: UInt32 = 500
            for _ in 0..<200 {
                let pids = (ControlGroupHierarchy.read("\(folder)/cgroup.procs") ?? "").split(separator: "\n").compactMap { pid_t($0) }
                if pids.isEmpty { break }
                for pid in pids { kill(pid, SIGKILL) }
                usleep(pause)
                pause = min(pause * 2, 10_000)
            }
        }
    }

    /// Removes the (empty) group.
    func remove() {
        for folder in folders.reversed() {
            // A group whose last process has just been reaped can be busy a moment longer: short pauses first.
            var pause: UInt32 = 200
            for _ in 0..<100 {
                if rmdir(folder) == 0 || errno == ENOENT { break }
                usleep(pause)
                pause = min(pause * 2, 20_000)
            }
        }
    }

    static func makeFolder(_ path: String) throws(SandboxError) {
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
            throw SandboxError(reason: "cannot create the control group \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func write(_ text: String, to path: String) throws(SandboxError) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SandboxError(reason: "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            throw SandboxError(reason: "cannot write '\(text)' to \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// A call's sandbox could not be set up (the call is answered with this and not run).
public struct SandboxError: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}
