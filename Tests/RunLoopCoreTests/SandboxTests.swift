import FakeAssistants
import Foundation
import Testing
import RunLoopCore
@testable import ToolRunner

extension SerialSuites {
/// `limits:`: each call in a sandbox of its own on this host (bubblewrap namespaces, a control group), with what
/// the limits forbid really refused and a limit hit recorded as its own outcome.
@Suite("Tools: per-call sandbox and limits", .serialized)
struct SandboxTests {
    static let host = SandboxHost.detect()

    /// The processes (not zombies) whose command line has `marker` as an argument.
    static func processes(withArgument marker: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else { return false }
            return data.split(separator: 0).contains { String(decoding: $0, as: UTF8.self) == marker } && HandlerFailureTests.isRunning(pid)
        }
    }

    /// Runs one round of calls to the given tools and returns each call's journal row by tool name.
    func runRound(_ h: RunHarness, _ tools: [String]) async throws -> [String: SQLRow] {
        h.server.register(Scenario(rounds: [tools.map { ScriptedToolCall($0, "{}") }]), for: "asst_sandbox")
        let outcome = try await h.run("asst_sandbox")
        #expect(outcome.status == .completed, "\(outcome)")
        let rows = try await h.rows("SELECT tool, state, error, output FROM tool_call_log")
        return Dictionary(rows.map { ($0["tool"].text ?? "", $0) }, uniquingKeysWith: { a, _ in a })
    }

    @Test("a handler over its memory limit is killed by the kernel, recorded as oom, and the model is told why",
        .enabled(if: host.controlGroups != nil, "no writable memory control group on this host"))
    func memoryHog() async throws {
        let h = try RunHarness()
        try h.handler("hog", "exec python3 -c 'b = b\"x\" * (400 << 20); print(len(b))'\n") { $0.limits.memoryBytes = 64 << 20 }
        // The same program without the limit finishes: the limit, not the program, is what kills the other.
        try h.handler("free", "exec python3 -c 'b = b\"x\" * (100 << 20); print(len(b))'\n")
        let rows = try await runRound(h, ["hog", "free"])
        #expect(rows["hog"]?["state"].text == "failed")
        #expect(rows["hog"]?["error"].text == "oom")
        #expect(rows["hog"]?["output"].text?.contains("went over its memory limit of 64 MiB") == true, "\(rows["hog"]?["output"].text ?? "")")
        #expect(rows["free"]?["state"].text == "succeeded")
        #expect(rows["free"]?["output"].text == "\(100 << 20)\n")
    }

    @Test("network: false leaves the call no way out (a loopback server the daemon reaches is refused); writable confines writes",
        .enabled(if: host.bubblewrap != nil, "bubblewrap is not installed"))
    func networkAndFiles() async throws {
        let h = try RunHarness()
        let port = try #require(URL(string: h.server.baseURL)?.port)
        let allowed = h.directory.path("allowed")
        try FileManager.default.createDirectory(atPath: allowed, withIntermediateDirectories: true)
        let outside = h.directory.path("outside.txt")
        let probe = """
            if (exec 3<>/dev/tcp/127.0.0.1/\(port)) 2>/dev/null; then echo connected; else echo refused; fi
            if echo x > \(allowed)/in.txt 2>/dev/null; then echo wrote-inside; fi
            if echo x > \(outside) 2>/dev/null; then echo wrote-outside; else echo read-only-outside; fi
            """
        for name in ["confined", "open"] {
            let path = h.directory.path("\(name).sh")
            try ("#!/bin/bash\n" + probe).writeScript(toFile: path)
            chmod(path, 0o755)
            var tool = ToolHandlerConfig(name: name, command: [path])
            if name == "confined" {
                tool.limits.network = false
                tool.limits.writable = [allowed]
            }
            h.tools.append(tool)
        }
        let rows = try await runRound(h, ["open", "confined"])
        #expect(rows["open"]?["output"].text == "connected\nwrote-inside\nwrote-outside\n")
        try FileManager.default.removeItem(atPath: outside)
        h.server.register(Scenario(rounds: [[ScriptedToolCall("confined", "{}")]]), for: "asst_confined")
        _ = try await h.run("asst_confined")
        let confined = try await h.rows("SELECT output FROM tool_call_log WHERE tool = 'confined' ")
        #expect(confined.allSatisfy { $0["output"].text == "refused\nwrote-inside\nread-only-outside\n" }, "\(confined)")
        #expect(!FileManager.default.fileExists(atPath: outside))
    }

    /// The unified (cgroup v2) hierarchy of a hybrid host, where this process may create groups: no controllers
    /// there, but the same code path as on a v2 host for joining, `cgroup.kill` and removal.
    static let unifiedBase: String? = {
        let base = "/sys/fs/cgroup/unified"
        return access(base + "/cgroup.procs", W_OK) == 0 ? base : nil
    }()

    @Test("at the time-out every process of the call dies, a daemonised grandchild (own session) included",
        arguments: ["cgroup", "bubblewrap", "cgroup v2"])
    func grandchildAtTimeout(containment: String) async throws {
        var host = Self.host
        switch containment {
        case "bubblewrap": host.controlGroups = nil
        case "cgroup v2": host.controlGroups = Self.unifiedBase.map { .unified(base: $0) }
        default: break
        }
        let controlGroup = containment != "bubblewrap"
        try #require(controlGroup ? host.controlGroups != nil : host.bubblewrap != nil, "this host cannot contain a call that way")
        let h = try RunHarness()
        h.sandboxHost = host
        let marker = "7777.\(UInt32.random(in: 100_000_000...999_999_999))"
        let started = h.directory.path("started")
        try h.handler("spawner", "setsid sleep \(marker) < /dev/null > /dev/null 2>&1 &\necho $! > \(started)\nexec sleep 1000\n") {
            $0.limits.time = .seconds(2)
            $0.timeout = .seconds(2)
            $0.limits.writable = controlGroup ? nil : [h.directory.path("")]
        }
        let rows = try await runRound(h, ["spawner"])
        #expect(rows["spawner"]?["state"].text == "timed_out")
        #expect(FileManager.default.fileExists(atPath: started), "the grandchild was started before the time-out")
        #expect(Self.processes(withArgument: marker).isEmpty, "the grandchild outlived the call")
    }

    @Test("a limit this host cannot enforce is a configuration error naming it, never ignored")
    func unenforceable() throws {
        let folder = TempDirectory()
        let handler = folder.path("t.sh")
        try "#!/bin/sh\necho\n".writeScript(toFile: handler)
        chmod(handler, 0o755)
        let yaml = "tools:\n  t:\n    command: [\(handler)]\n    limits: {memory: 64M, network: false}\n"
        #expect {
            try ConfigLoader.parse(yaml, file: folder.path("c.yaml"), environment: ["TOOLWORKER_BWRAP": "none", "TOOLWORKER_CGROUP": "none"])
        } throws: { error in
            let text = "\(error)"
            return text.contains("tools.t.limits: cannot be enforced on this host") && text.contains("limits need bubblewrap")
                && text.contains("memory needs a writable control group")
        }
        if Self.host.controlGroups != nil {
            let config = try ConfigLoader.parse(
                yaml.replacingOccurrences(of: "memory: 64M, network: false", with: "memory: 1G, cpu: 50%, tasks: 8, time: 5s"), file: folder.path("c.yaml"))
            #expect(config.tools[0].limits.memoryBytes == 1 << 30 && config.tools[0].limits.cpuPercent == 50 && config.tools[0].timeout == .seconds(5))
        }
        #expect(throws: ConfigError.self) { try ConfigLoader.parse(yaml.replacingOccurrences(of: "64M", with: "lots"), file: folder.path("c.yaml")) }
        // A cgroup v2 hierarchy without the memory controller (a hybrid host's unified one): said, not ignored.
        if let base = Self.unifiedBase, !(ControlGroupHierarchy.read(base + "/cgroup.controllers") ?? "").contains("memory") {
            var memory = ToolLimits()
            memory.memoryBytes = 64 << 20
            let problems = SandboxHost(bubblewrap: "/usr/bin/bwrap", controlGroups: .unified(base: base)).problems(for: memory)
            #expect(problems == ["the memory controller is not available in cgroup v2 under \(base)"], "\(problems)")
        }
    }

    @Test("a daemon SIGKILLed mid-call: at the next start what the call still ran in its control group is killed, and the call answered interrupted",
        .enabled(if: host.controlGroups != nil, "no writable control group on this host"))
    func sweepAfterCrash() async throws {
        let h = try DaemonHarness(scenarios: ["asst_slow": Scenario(rounds: [[ScriptedToolCall("slow", "{}")]], finalText: "done")])
        let started = h.directory.path("started")
        let marker = "6000.\(UInt32.random(in: 100_000_000...999_999_999))"
        // A memory limit only: the call is in its control group (and bubblewrap's namespaces); a daemon killed with
        // it leaves the group behind, which the next start sweeps.
        let handler = try h.script("slow.sh", "cat >/dev/null\ntouch \(started)\nexec sleep \(marker)\n")
        try h.writeConfig(tools: "  slow: { command: [\"\(handler)\"], on_restart: fail, limits: { memory: 256M } }")
        _ = try await h.enqueue("asst_slow")
        try h.start()
        try await h.waitUntil("the handler to run") { FileManager.default.fileExists(atPath: started) && !Self.processes(withArgument: marker).isEmpty }
        _ = try await h.stop(SIGKILL)
        try h.start()
        try await h.waitUntil("the call's leftover to be gone") { Self.processes(withArgument: marker).isEmpty }
        try await h.waitUntil("the job to end") { try h.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'") == 1 }
        #expect(try h.query("SELECT state FROM tool_call_log").first?["state"].text == "interrupted")
        #expect(h.log().contains("killed what calls of a stopped daemon left running"), "\(h.log())")
        _ = try await h.stop(SIGTERM)
    }

    @Test("check-config names the mechanisms of this host, and refuses (exit 78) a limit it cannot enforce")
    func checkConfigReports() async throws {
        let folder = TempDirectory()
        let handler = folder.path("t.sh")
        try "#!/bin/sh\necho\n".writeScript(toFile: handler)
        chmod(handler, 0o755)
        let config = folder.path("c.yaml")
        try "database: \(folder.path("tw.db"))\ntools:\n  t: { command: [\(handler)], limits: { network: false } }\n".write(toFile: config, atomically: true, encoding: .utf8)
        let toolworker = builtProduct("toolworker")
        let environment = ["OPENAI_API_KEY": "sk-x", "PATH": "/usr/bin:/bin"]
        if Self.host.bubblewrap != nil {
            let check = try await runCommand(toolworker, ["check-config", "--config", config], environment: environment)
            #expect(check.status == 0, "\(check)")
            #expect(check.output.contains("sandbox: bubblewrap"), "\(check.output)")
            #expect(check.output.contains(Self.host.controlGroups == nil ? "sandbox: no writable control group" : "sandbox: cgroup v"))
        }
        var without = environment
        without["TOOLWORKER_BWRAP"] = "none"
        let refused = try await runCommand(toolworker, ["check-config", "--config", config], environment: without)
        #expect(refused.status == 78)
        #expect(refused.error.contains("tools.t.limits: cannot be enforced on this host: limits need bubblewrap"), "\(refused.error)")
        let serve = try await runCommand(toolworker, ["serve", "--config", config], environment: without)
        #expect(serve.status == 78, "serve refuses it too, before anything runs: \(serve.error)")
        // Installed is not enough: a bwrap that cannot create namespaces here (a unit with RestrictNamespaces=yes).
        let broken = folder.path("bwrap")
        try "#!/bin/sh\necho 'bwrap: No permissions to creating new namespace' >&2\nexit 1\n".writeScript(toFile: broken)
        chmod(broken, 0o755)
        var unusable = environment
        unusable["TOOLWORKER_BWRAP"] = broken
        let probed = try await runCommand(toolworker, ["check-config", "--config", config], environment: unusable)
        #expect(probed.status == 78)
        #expect(probed.error.contains("cannot create a sandbox here: bwrap: No permissions to creating new namespace"), "\(probed.error)")
    }
}
}
