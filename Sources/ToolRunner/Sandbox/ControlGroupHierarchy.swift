import Foundation

/// Where this process may create a control group per call: under its own group, in the unified (v2) hierarchy or
/// in the v1 hierarchies of the memory, cpu and pids controllers.
public enum ControlGroupHierarchy: Sendable, Equatable, CustomStringConvertible {
    /// cgroup v2: this process's own group (with systemd: the unit's, `Delegate=yes`).
    case unified(base: String)
    /// cgroup v1: this process's group in each controller's hierarchy that is mounted and writable.
    case perController(memory: String?, cpu: String?, pids: String?)

    public struct Problem: Error, Sendable {
        public var reason: String
    }

    public var description: String {
        switch self {
        case .unified(let base): return "cgroup v2 under \(base)"
        case .perController(let memory, let cpu, let pids):
            let parts = [memory.map { "memory \($0)" }, cpu.map { "cpu \($0)" }, pids.map { "pids \($0)" }].compactMap { $0 }
            return "cgroup v1 (\(parts.joined(separator: ", ")))"
        }
    }

    /// The folders a call's group is made in (one per hierarchy).
    var bases: [String] {
        switch self {
        case .unified(let base): return [base]
        case .perController(let memory, let cpu, let pids): return [memory, cpu, pids].compactMap { $0 }
        }
    }

    var isUnified: Bool {
        if case .unified = self { return true }
        return false
    }

    /// Controllers `limits` need that this hierarchy lacks (`memory`, `cpu`, `pids`).
    func missingControllers(for limits: ToolLimits) -> [String] {
        var needed: [String] = []
        if limits.memoryBytes != nil { needed.append("memory") }
        if limits.cpuPercent != nil { needed.append("cpu") }
        if limits.tasks != nil { needed.append("pids") }
        switch self {
        case .unified(let base):
            let available = Set(Self.read("\(base)/cgroup.controllers")?.split(separator: " ").map(String.init) ?? [])
            return needed.filter { !available.contains($0) }
        case .perController(let memory, let cpu, let pids):
            let have = ["memory": memory, "cpu": cpu, "pids": pids]
            return needed.filter { have[$0] ?? nil == nil }
        }
    }

    /// This process's groups from `/proc/self/cgroup` and the mounts, kept when this process may write there.
    static func detect(procSelf: String = "/proc/self/cgroup", mounts: String = "/proc/self/mounts") -> Result<ControlGroupHierarchy, Problem> {
        guard let membership = read(procSelf) else { return .failure(Problem(reason: "cannot read \(procSelf)")) }
        var v1: [String: String] = [:]
        var unifiedPath: String?
        for line in membership.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            if fields[1].isEmpty { unifiedPath = String(fields[2]) }
            for controller in fields[1].split(separator: ",") { v1[String(controller)] = String(fields[2]) }
        }
        let mountLines = (read(mounts) ?? "").split(separator: "\n").map { $0.split(separator: " ") }
        // cgroup v2 only (no v1 controller hierarchies): the unified hierarchy holds the controllers.
        if v1.isEmpty, let unifiedPath, let mount = mountLines.first(where: { $0.count > 2 && $0[2] == "cgroup2" }) {
            let base = String(mount[1]) + (unifiedPath == "/" ? "" : unifiedPath)
            guard access(base, W_OK) == 0 else {
                return .failure(Problem(reason: "\(base) is not writable by this user (run under systemd with Delegate=yes)"))
            }
            return .success(.unified(base: base))
        }
        func writableBase(_ controller: String) -> String? {
            guard let path = v1[controller],
                let mount = mountLines.first(where: { $0.count > 3 && $0[2] == "cgroup" && $0[3].split(separator: ",").contains(Substring(controller)) })
            else { return nil }
            let base = String(mount[1]) + (path == "/" ? "" : path)
            return access(base, W_OK) == 0 ? base : nil
        }
        let hierarchy = ControlGroupHierarchy.perController(memory: writableBase("memory"), cpu: writableBase("cpu"), pids: writableBase("pids"))
        if case .perController(nil, nil, nil) = hierarchy {
            return .failure(Problem(reason: "no memory, cpu or pids control group of this process is writable by this user"))
        }
        return .success(hierarchy)
    }

    static func read(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
