import ToolRunner
import Yams

extension Reader {
    /// The configuration keys of the policy settings in `keys`.
    static func policyKeyNames(_ keys: ToolPolicy.Keys) -> [String] {
        [(ToolPolicy.Keys.timeout, "timeout"), (.maxOutputBytes, "max_output_bytes"), (.onRestart, "on_restart"), (.approval, "approval"),
         (.limits, "limits")]
            .filter { keys.contains($0.0) }.map(\.1)
    }

    /// Reads the policy settings among a tool's configuration `entries` (under `base`: `tools.NAME`, `shell`,
    /// `apply_patch`, `mcp_servers.NAME`) into `policy`: the one reader of time-outs, output caps, `on_restart`,
    /// approval rules and sandboxes for every kind of tool. A sandbox's `limits.time` is the call's time-out.
    /// - Returns: the entries that are not the policy's, for the kind's own keys.
    mutating func readPolicy(_ entries: [(String, Node)], _ base: String, into policy: inout ToolPolicy) -> [(String, Node)] {
        var rest: [(String, Node)] = []
        for (key, value) in entries {
            let path = "\(base).\(key)"
            switch key {
            case "timeout" where policy.keys.contains(.timeout):
                policy.timeout = duration(value, path) ?? policy.timeout
            case "max_output_bytes" where policy.keys.contains(.maxOutputBytes):
                policy.maxOutputBytes = integer(value, path, min: 16, max: ToolPolicy.maximumOutputBytes) ?? policy.maxOutputBytes
            case "on_restart" where policy.keys.contains(.onRestart):
                policy.onRestart = restartPolicy(value, path) ?? policy.onRestart
            case "approval" where policy.keys.contains(.approval):
                policy.approval = approvalRule(value, path) ?? policy.approval
            case "limits" where policy.keys.contains(.limits):
                policy.limits = limits(value, path)
            default:
                rest.append((key, value))
            }
        }
        if let time = policy.limits.time { policy.timeout = time }
        return rest
    }
}
