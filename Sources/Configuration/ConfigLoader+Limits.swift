import Foundation
import ToolRunner
import Yams

extension Reader {
    /// `limits: {memory: 256M, cpu: 50%, tasks: 64, time: 30s, network: false, writable: [DIR, …]}`.
    mutating func limits(_ node: Node, _ path: String) -> ToolLimits {
        var limits = ToolLimits()
        for (key, value) in mapping(node, path, allowed: ["memory", "cpu", "tasks", "time", "network", "writable", "sockets"]) ?? [] {
            let keyPath = "\(path).\(key)"
            switch key {
            case "memory":
                guard let text = string(value, keyPath) else { continue }
                if let bytes = ToolLimits.parseBytes(text), bytes >= 1 << 20 { limits.memoryBytes = bytes } else {
                    problem(keyPath, value, "expected a size of at least 1M, such as 256M or 2G, not '\(text)'")
                }
            case "cpu":
                guard let text = string(value, keyPath) else { continue }
                if let percent = ToolLimits.parsePercent(text) { limits.cpuPercent = percent } else {
                    problem(keyPath, value, "expected a percentage of one CPU from 1% to 10000%, such as 50%, not '\(text)'")
                }
            case "tasks": limits.tasks = integer(value, keyPath, min: 1, max: 1_000_000) ?? limits.tasks
            case "time": limits.time = duration(value, keyPath) ?? limits.time
            case "network":
                if let allowed = value.bool { limits.network = allowed } else {
                    problem(keyPath, value, "expected true or false")
                }
            case "writable":
                guard case .sequence(let folders) = value else {
                    problem(keyPath, value, "expected a list of folders")
                    continue
                }
                limits.writable = folders.compactMap { directory($0, keyPath) }
            case "sockets":
                guard case .sequence(let paths) = value else {
                    problem(keyPath, value, "expected a list of Unix socket files")
                    continue
                }
                limits.sockets = paths.compactMap { node in
                    guard let text = string(node, keyPath) else { return nil }
                    guard text.hasPrefix("/") else {
                        problem(keyPath, node, "expected an absolute path to a Unix socket file, not '\(text)'")
                        return nil
                    }
                    return text
                }
            default: break
            }
        }
        return limits
    }

    /// Every `limits:` must be enforceable here: finds what this host has (once) and refuses what it lacks.
    mutating func checkLimits(_ config: inout ToolWorkerConfig, environment: [String: String]) {
        var sections = config.tools.map { ("tools.\($0.name).limits", $0.limits) }
        if let shell = config.shell { sections.append(("shell.limits", shell.limits)) }
        sections += config.mcpServers.map { ("mcp_servers.\($0.name).limits", $0.limits) }
        guard sections.contains(where: { !$0.1.isEmpty }) else { return }
        var host = SandboxHost.detect(environment: environment.isEmpty ? ProcessInfo.processInfo.environment : environment)
        host.protectedPaths = config.protectedPaths
        config.sandboxHost = host
        for (path, limits) in sections where !limits.isEmpty {
            if !limits.sockets.isEmpty && limits.network { problem("\(path).sockets", nil, "only means something with network: false") }
            for reason in host.problems(for: limits) { problem(path, nil, "cannot be enforced on this host: \(reason)") }
        }
    }
}
