import FakeAssistants
import Foundation
import Testing
import RunLoopCore
@testable import ToolRunner

extension SerialSuites {
/// Issue 27's sandbox items end to end as a daemon would run in production: `toolworker run` (the packaged binary
/// under scripts/test.sh) as an unprivileged user of its own, with control groups delegated to that user on this
/// host's layout, and hostile handlers of that same user trying to get out.
@Suite("Tools: the sandbox against a hostile call, as an unprivileged user", .serialized)
struct UnprivilegedSandboxTests {
    /// A user id no account and no other process has (`kill -9 -1` by a call that got out would end only this test's
    /// processes; PostgreSQL's test cluster runs as `nobody`).
    static let uid = UInt32.random(in: 61_000..<64_000)

    static var preconditions: String? {
        guard getuid() == 0 else { return "needs root to delegate control groups to a user of its own" }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else { return "setpriv is not installed" }
        guard SandboxHost.detect().bubblewrap != nil else { return "bubblewrap is not usable" }
        guard case .success(.perController(memory: .some, cpu: _, pids: .some)) = ControlGroupHierarchy.detect()
        else { return "no cgroup v1 memory and pids hierarchies writable here" }
        return nil
    }

    /// The user's control groups: a child of the test process's own group in each hierarchy, owned by the user.
    struct DelegatedGroups {
        let folders: [String]

        init(owner: UInt32) throws {
            guard case .success(let hierarchy) = ControlGroupHierarchy.detect() else { throw POSIXError(.ENOENT) }
            let name = "tw-unprivileged-\(owner)-\(UInt32.random(in: 0..<1_000_000))"
            folders = hierarchy.bases.map { "\($0)/\(name)" }
            for folder in folders {
                guard mkdir(folder, 0o755) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
                // What a delegation hands over: the folder (to make groups in) and the files to join it.
                for path in [folder, folder + "/cgroup.procs", folder + "/tasks"] { chown(path, owner, owner) }
            }
        }

        /// Removes the call groups left (there should be none) and then each delegated group.
        func remove() -> [String] {
            var left: [String] = []
            for folder in folders {
                let children = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter {
                    var info = stat()
                    return stat(folder + "/" + $0, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
                }
                for child in children {
                    left.append(child)
                    rmdir(folder + "/" + child)
                }
                rmdir(folder)
            }
            return left
        }
    }

    @Test("as its own user with delegated groups: a call cannot raise its limits, leave its group, signal the daemon or another process, connect to a host socket, read the journal or leave a process behind",
        .enabled(if: preconditions == nil, "\(preconditions ?? "")"))
    func hostileCallsAsUnprivilegedUser() async throws {
        let uid = Self.uid
        let folder = TempDirectory()
        let marker = "6000.\(UInt32.random(in: 100_000...999_999))"
        let server = try FakeAssistantsServer(scenarios: [
            "asst_probe": Scenario(rounds: [[ScriptedToolCall("probe", "{}"), ScriptedToolCall("probe_groups_only", "{}"), ScriptedToolCall("open_probe", "{}")], [ScriptedToolCall("kill_all", "{}")]]),
        ])
        defer { server.stop() }
        let groups = try DelegatedGroups(owner: uid)
        var leftGroups: [String]? = nil
        defer { if leftGroups == nil { _ = groups.remove() } }
        let socketPath = folder.path("host-service.sock")
        let listener = try ToolSideAttackTests.UnixListener(path: socketPath)
        defer { listener.close() }
        chmod(socketPath, 0o777)
        let port = server.port
        let database = folder.path("tw.db")
        let memoryGroup = try #require(groups.folders.first { $0.contains("/memory") })
        // The same probes with and without limits: what the unconfined one reaches is what the sandbox takes away.
        let probe = """
            #!/bin/bash
            cat >/dev/null
            own=$(sed -n 's/^[0-9]*:pids://p' /proc/self/cgroup)
            if echo max > "/sys/fs/cgroup/pids$own/pids.max" 2>/dev/null; then echo raised-limit; else echo limit-kept; fi
            if echo $$ > "\(memoryGroup)/cgroup.procs" 2>/dev/null; then echo left-group; else echo stayed-in-group; fi
            if python3 -c "import socket; s = socket.socket(socket.AF_UNIX); s.connect('\(socketPath)')" 2>/dev/null; then echo socket-connected; else echo socket-refused; fi
            if (exec 3<>/dev/tcp/127.0.0.1/\(port)) 2>/dev/null; then echo tcp-connected; else echo tcp-refused; fi
            if head -c 15 "\(database)" 2>/dev/null | grep -q 'SQLite format'; then echo journal-visible; else echo journal-hidden; fi
            echo forged >> "\(database)" 2>/dev/null
            setsid sleep \(marker) >/dev/null 2>&1 < /dev/null &
            echo done
            """
        let probePath = folder.path("probe.sh")
        try probe.writeScript(toFile: probePath)
        let openPath = folder.path("open_probe.sh")
        try probe.replacingOccurrences(of: "echo forged >> \"\(database)\" 2>/dev/null\nsetsid sleep \(marker) >/dev/null 2>&1 < /dev/null &\n", with: "")
            .writeScript(toFile: openPath)
        let killPath = folder.path("kill_all.sh")
        // Outside a PID namespace this would end every process of the user: the daemon and the decoy.
        try "#!/bin/bash\ncat >/dev/null\nkill -9 -1\necho still-here\n".writeScript(toFile: killPath)
        for path in [probePath, openPath, killPath] { chmod(path, 0o755) }
        let limits = "{ memory: 256M, tasks: 64, time: 30s, network: false, writable: [\(folder.url.path)] }"
        // Only control-group limits: the whole file system stays writable to the call, but not its group's files.
        let groupsOnly = "{ memory: 256M, tasks: 64 }"
        let config = folder.path("toolworker.yaml")
        try """
            api: { base_url: "\(server.baseURL)" }
            database: tw.db
            tools:
              probe: { command: [\(probePath)], limits: \(limits) }
              probe_groups_only: { command: [\(probePath)], limits: \(groupsOnly) }
              kill_all: { command: [\(killPath)], limits: \(groupsOnly) }
              open_probe: { command: [\(openPath)] }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let chowned = try await runCommand("/bin/chown", ["-R", "\(uid):\(uid)", folder.url.path])
        #expect(chowned.status == 0, "\(chowned)")

        let asUser = ["/usr/bin/setpriv", "--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--"]
        // Control: outside a sandbox this user can join (and so leave) the delegated group.
        let joins = try await runCommand("/bin/sh", ["-c", "\"$@\" /bin/sh -c 'echo $$ > \(memoryGroup)/cgroup.procs && echo joined'", "sh"] + asUser)
        #expect(joins.output == "joined\n", "\(joins)")
        let decoy = Process()
        decoy.executableURL = URL(fileURLWithPath: asUser[0])
        decoy.arguments = Array(asUser.dropFirst()) + ["/bin/sleep", "600"]
        try decoy.run()
        defer { if decoy.isRunning { kill(decoy.processIdentifier, SIGKILL) } }

        // The daemon joins the delegated groups as root, then becomes the user (as systemd's Delegate=yes would).
        let join = groups.folders.map { "echo $$ > \($0)/cgroup.procs" }.joined(separator: "; ")
        let run = try await runCommand(
            "/bin/sh", ["-c", "\(join); cd \(folder.url.path) && exec \"$@\"", "sh"] + asUser
                + [builtProduct("toolworker"), "run", "--config", config, "--assistant", "asst_probe", "--message", "go"],
            environment: ["OPENAI_API_KEY": server.apiKey, "PATH": "/usr/bin:/bin"])
        #expect(run.status == 0, "the daemon lived through the calls and the run completed: \(run)")
        #expect(decoy.isRunning, "a process of the same user outside the sandbox was not signalled")

        let connection = try SQLiteConnection(path: database, readOnly: true)
        let rows = try connection.query("SELECT tool, state, output FROM tool_call_log")
        let outputs = Dictionary(rows.map { ($0["tool"].text ?? "", $0["output"].text ?? "") }, uniquingKeysWith: { a, _ in a })
        #expect(outputs["open_probe"] == "limit-kept\nleft-group\nsocket-connected\ntcp-connected\njournal-visible\ndone\n",
            "unconfined, the same probes reach everything: \(outputs)")
        #expect(outputs["probe"] == "limit-kept\nstayed-in-group\nsocket-refused\ntcp-refused\njournal-hidden\ndone\n", "\(outputs)")
        #expect(outputs["probe_groups_only"] == "limit-kept\nstayed-in-group\nsocket-connected\ntcp-connected\njournal-hidden\ndone\n", "\(outputs)")
        #expect(outputs["kill_all"] == "still-here\n", "\(outputs)")
        #expect(try connection.query("PRAGMA integrity_check").first?.values.first?.text == "ok")
        #expect(SandboxTests.processes(withArgument: marker).isEmpty, "the call's setsid child ended with the call")
        leftGroups = groups.remove()
        #expect(leftGroups == [], "every call's control group was removed")
    }
}
}
