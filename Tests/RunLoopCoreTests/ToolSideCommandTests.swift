import FakeAssistants
import Foundation
import Testing
import RunLoopCore

extension SerialSuites {
/// Issue 27's command-line and stream items, against the `toolworker` binary (the packaged one under
/// scripts/test.sh) and real loopback servers.
@Suite("Tools: secrets, configuration and audit under attack", .serialized)
struct ToolSideCommandTests {
    typealias S = ScriptedResponsesServer

    @Test("a stream ending in truncated call arguments: every frame received is stored ([DONE] included), the run fails truncated_arguments")
    func truncatedArgumentsKeepsEveryFrame() async throws {
        let frames = S.askingFor("resp_cut", calls: [S.call("call_1", arguments: #"{"city":"Par"#)]) + ["[DONE]"]
        let h = try ScriptedHarness { kind, _, _ in kind == .create ? .events(frames) : .json(404, "{}") }
        _ = try h.echoTool()
        let outcome = try await h.run()
        #expect(outcome.errorCode == "truncated_arguments", "\(outcome)")
        let creates = h.server.requests(.create).count
        let stored = try await h.rows("SELECT data FROM event_log WHERE kind <> 'note' ORDER BY seq")
        #expect(stored.count == frames.count * creates, "\(frames.count) frames sent \(creates) times, \(stored.count) rows")
        #expect(stored.filter { $0["data"].text == "[DONE]" }.count == creates)
    }

    @Test("the API key is wiped from the daemon's environment: a handler reading /proc/PID/environ finds none; a key in an output is redacted before the journal")
    func keyOutOfTheEnvironment() async throws {
        let h = try DaemonHarness(scenarios: ["asst_key": Scenario(rounds: [[ScriptedToolCall("peek", "{}"), ScriptedToolCall("echo_key", "{}")]])])
        let key = h.environment["OPENAI_API_KEY"] ?? ""
        #expect(key.count >= 6)
        let peek = try h.script("peek.sh", "cat >/dev/null\necho placeholder\n")
        let echo = try h.script("echo_key.sh", "cat >/dev/null\necho 'found: \(key)'\n")
        try h.writeConfig(tools: "  peek: { command: [\"\(peek)\"] }\n  echo_key: { command: [\"\(echo)\"] }")
        try h.start()
        try await h.waitUntil("READY") { h.notify.kinds.contains("READY") }
        let pid = try #require(h.process?.processIdentifier)
        try "#!/bin/sh\ncat >/dev/null\ntr '\\0' '\\n' < /proc/\(pid)/environ | grep -c OPENAI_API_KEY=sk || true\ngrep -c '\(key)' /proc/\(pid)/environ || true\n"
            .writeScript(toFile: peek)
        let job = try await h.enqueue("asst_key")
        try await h.waitUntil("the job to succeed") { try h.scalar("SELECT count(*) FROM jobs WHERE id = ? AND state = 'succeeded'", [.integer(job)]) == 1 }
        let rows = try h.query("SELECT tool, output FROM tool_call_log ORDER BY tool")
        #expect(rows.first { $0["tool"].text == "peek" }?["output"].text == "0\n0\n", "\(rows)")
        #expect(rows.first { $0["tool"].text == "echo_key" }?["output"].text == "found: [REDACTED]\n", "\(rows)")
        #expect(try h.scalar("SELECT count(*) FROM events WHERE instr(data, ?) > 0", [.text(key)]) == 0, "no event carries the key")
        let everything = try h.query("SELECT group_concat(coalesce(output, ''), '') AS text FROM tool_calls").first?["text"].text ?? ""
        #expect(!everything.contains(key))
        _ = try await h.stop(SIGTERM)
    }

    /// `toolworker run` of one apply_patch round updating `lines` lines of a file: its exit status and peak
    /// resident memory (KiB, python's getrusage of its one child), and the file's size.
    func patchRun(lines: Int) async throws -> (status: Int32, peakKiB: Int, fileBytes: Int, output: String) {
        let folder = TempDirectory()
        let work = folder.path("work")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: work + "/big.txt", contents: nil)
        let handle = try #require(FileHandle(forWritingAtPath: work + "/big.txt"))
        var size = 0
        for chunk in stride(from: 0, to: lines, by: 1000) {
            let text = (chunk..<min(lines, chunk + 1000)).map { "line \($0) of a long file with some text\n" }.joined()
            size += text.utf8.count
            handle.write(Data(text.utf8))
        }
        try handle.close()
        let target = lines * 3 / 4
        let diff = " line \(target) of a long file with some text\n-line \(target + 1) of a long file with some text\n+CHANGED\n"
        let operation = JSONValue.object(["type": "update_file", "path": "big.txt", "diff": .string(diff)]).serialized()
        let item = #"{"type":"apply_patch_call","id":"apc_1","call_id":"call_p","status":"completed","operation":\#(operation)}"#
        let server = try S { kind, _, _ in
            switch kind {
            case .create: return .events(S.askingFor("resp_1", calls: [item]))
            case .submit: return .events(S.answer("resp_2"))
            default: return .json(404, "{}")
            }
        }
        let config = folder.path("c.yaml")
        try """
            api: { base_url: "\(server.baseURL)", protocol: responses }
            model: m
            database: \(folder.path("tw.db"))
            apply_patch: { workspace_root: \(work), max_file_bytes: 67108864 }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let measure = "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True); "
            + "sys.stderr.write(r.stderr.decode()); print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        let run = try await runCommand("/usr/bin/python3", ["-c", measure, builtProduct("toolworker"), "run", "--config", config, "--message", "edit"],
            environment: ["OPENAI_API_KEY": "sk-x", "PATH": "/usr/bin:/bin"])
        let fields = run.output.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        let edited = (try? String(contentsOfFile: work + "/big.txt", encoding: .utf8)) ?? ""
        #expect(edited.contains("line \(target) of a long file with some text\nCHANGED\nline \(target + 2) "), "the edit landed")
        return (Int32(fields.first ?? -1), fields.count > 1 ? fields[1] : -1, size, run.error)
    }

    @Test("updating a 16 MB file takes memory proportional to it, a small multiple (under 4x more than a tiny file's run)")
    func patchMemoryBounded() async throws {
        let small = try await patchRun(lines: 100)
        let big = try await patchRun(lines: 400_000)
        #expect(small.status == 0 && big.status == 0, "\(small.output.suffix(1000)) \(big.output.suffix(1000))")
        let extra = (big.peakKiB - small.peakKiB) * 1024
        #expect(extra < 4 * big.fileBytes, "peak \(big.peakKiB) KiB vs \(small.peakKiB) KiB for a file of \(big.fileBytes) bytes: \(Double(extra) / Double(big.fileBytes))x")
    }

    @Test("deny --help shows --reason as required; deny without it is a usage error")
    func denyHelp() async throws {
        let help = try await runCommand(builtProduct("toolworker"), ["deny", "--help"], environment: ["PATH": "/usr/bin:/bin"])
        #expect(help.output.contains("--reason <reason>"), "\(help.output)")
        #expect(!help.output.contains("[--reason <reason>]"), "\(help.output)")
        let missing = try await runCommand(builtProduct("toolworker"), ["deny", "call_1"], environment: ["PATH": "/usr/bin:/bin"])
        #expect(missing.status == 64, "\(missing)")
    }

    @Test("a handler named like a built-in tool (apply_patch, shell) beside that section is refused with a clear error")
    func builtInNameCollision() throws {
        let folder = TempDirectory()
        let handler = folder.path("t.sh")
        try "#!/bin/sh\necho\n".writeScript(toFile: handler)
        let yaml = """
            tools:
              apply_patch: { command: [\(handler)] }
              shell: { command: [\(handler)] }
            apply_patch: { workspace_root: \(folder.url.path) }
            shell: { working_directory: \(folder.url.path) }
            """
        #expect {
            try ConfigLoader.parse(yaml, file: folder.path("c.yaml"))
        } throws: { error in
            let text = "\(error)"
            return text.contains("tools.apply_patch: the name 'apply_patch' is the built-in tool of the apply_patch: section")
                && text.contains("tools.shell: the name 'shell' is the built-in tool of the shell: section")
        }
        // Without the sections, the names are free.
        _ = try ConfigLoader.parse("tools:\n  apply_patch: { command: [\(handler)] }\n", file: folder.path("c.yaml"))
    }

    @Test("an MCP server echoing its header_files token in a 401: check-config and the listing say [REDACTED], never the token")
    func headerTokenNotPrinted() async throws {
        let token = "tw-secret-token-\(UInt32.random(in: 100_000...999_999))"
        let server = try LoopbackHTTPServer { request, writer in
            writer.respond(status: 401, body: Array("unauthorized: you sent \(request.headers["authorization"] ?? "nothing")".utf8), contentType: "text/plain")
        }
        defer { server.stop() }
        let folder = TempDirectory()
        let tokenFile = folder.path("token")
        try "Bearer \(token)\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let config = folder.path("c.yaml")
        try """
            database: \(folder.path("tw.db"))
            mcp_servers:
              remote:
                url: http://127.0.0.1:\(server.port)/mcp
                header_files: { Authorization: \(tokenFile) }
                startup_timeout: 10s
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let check = try await runCommand(builtProduct("toolworker"), ["check-config", "--config", config], environment: ["OPENAI_API_KEY": "sk-x", "PATH": "/usr/bin:/bin"])
        #expect(check.output.contains("mcp_servers.remote"), "\(check)")
        #expect(!check.output.contains(token) && !check.error.contains(token), "\(check)")
        let tools = try await runCommand(builtProduct("toolworker"), ["tools", "--config", config], environment: ["OPENAI_API_KEY": "sk-x", "PATH": "/usr/bin:/bin"])
        #expect(!tools.output.contains(token) && !tools.error.contains(token), "\(tools)")
    }
}
}
