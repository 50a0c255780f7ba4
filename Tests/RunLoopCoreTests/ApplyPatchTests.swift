import FakeAssistants
import Foundation
import Testing
import RunLoopCore

extension SerialSuites {
/// `apply_patch_call`s: create, update (V4A), delete, each atomic and confined to the workspace; refused without one.
@Suite("Responses API: apply_patch calls", .serialized)
struct ApplyPatchTests {

    @Test("create, update with two hunks, delete: applied in the workspace, answered completed")
    func operations() async throws {
        let h = try RunHarness(scenarios: ["patch": Scenario(rounds: [
            [.applyPatch(["type": "create_file", "path": "src/app.txt", "diff": "+one\n+two\n+three\n+four\n+five\n"])],
            [.applyPatch(["type": "update_file", "path": "src/app.txt", "diff": "@@ one\n-two\n+TWO\n three\n@@\n four\n-five\n+FIVE\n+six\n"])],
            [.applyPatch(["type": "create_file", "path": "gone.txt", "diff": "+x\n"])],
            [.applyPatch(["type": "delete_file", "path": "gone.txt"])],
        ])])
        let root = h.directory.path("ws")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        h.applyPatch = ApplyPatchConfig(workspaceRoot: root)
        let outcome = try await h.respond("patch")
        #expect(outcome.status == .completed, "\(outcome)")
        #expect(try String(contentsOfFile: root + "/src/app.txt", encoding: .utf8) == "one\nTWO\nthree\nfour\nFIVE\nsix\n")
        #expect(!FileManager.default.fileExists(atPath: root + "/gone.txt"))
        let outputs = h.submittedInputs()
        #expect(outputs.count == 4)
        #expect(outputs.allSatisfy { $0["type"] == "apply_patch_call_output" && $0["status"] == "completed" }, "\(outputs)")
        #expect(h.requests("POST", "/responses").first?.json?["tools"]?[0] == ["type": "apply_patch"])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: root + "/src").filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "no temporary file left: \(leftovers)")
    }

    @Test("escapes are refused and change nothing: '..', an absolute path, a symlinked folder, a symlink target")
    func confinement() async throws {
        let outside = TempDirectory()
        let h = try RunHarness(scenarios: ["patch": Scenario(rounds: [[
            .applyPatch(["type": "create_file", "path": "../escape.txt", "diff": "+x\n"]),
            .applyPatch(["type": "create_file", "path": .string(outside.path("abs.txt")), "diff": "+x\n"]),
            .applyPatch(["type": "create_file", "path": "link/inside.txt", "diff": "+x\n"]),
            .applyPatch(["type": "update_file", "path": "file-link", "diff": "-secret\n+owned\n"]),
        ]])])
        let root = h.directory.path("ws")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try "secret\n".write(toFile: outside.path("secret.txt"), atomically: true, encoding: .utf8)
        symlink(outside.url.path, root + "/link")
        symlink(outside.path("secret.txt"), root + "/file-link")
        h.applyPatch = ApplyPatchConfig(workspaceRoot: root)
        _ = try await h.respond("patch")
        let outputs = h.submittedInputs()
        #expect(outputs.count == 4)
        #expect(outputs.allSatisfy { $0["status"] == "failed" }, "\(outputs)")
        #expect(!FileManager.default.fileExists(atPath: h.directory.path("escape.txt")))
        #expect(!FileManager.default.fileExists(atPath: outside.path("abs.txt")))
        #expect(!FileManager.default.fileExists(atPath: outside.path("inside.txt")))
        #expect(try String(contentsOfFile: outside.path("secret.txt"), encoding: .utf8) == "secret\n")
    }

    @Test("a diff that does not match fails with a clear output and leaves the file as it was")
    func mismatch() async throws {
        let h = try RunHarness(scenarios: ["patch": Scenario(rounds: [[
            .applyPatch(["type": "update_file", "path": "a.txt", "diff": "@@\n-not there\n+x\n"])
        ]])])
        let root = h.directory.path("ws")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try "keep\n".write(toFile: root + "/a.txt", atomically: true, encoding: .utf8)
        h.applyPatch = ApplyPatchConfig(workspaceRoot: root)
        _ = try await h.respond("patch")
        let output = try #require(h.submittedInputs().first)
        #expect(output["status"] == "failed")
        #expect(output["output"]?.stringValue?.contains("does not match") == true, "\(output)")
        #expect(try String(contentsOfFile: root + "/a.txt", encoding: .utf8) == "keep\n")
        #expect(try await h.rows("SELECT state FROM tool_call_log").first?["state"].text == "failed")
    }

    @Test("without an apply_patch: section, patch calls are refused and nothing is written")
    func refused() async throws {
        let h = try RunHarness(scenarios: ["patch": Scenario(rounds: [[.applyPatch(["type": "create_file", "path": "x.txt", "diff": "+x\n"])]])])
        _ = try await h.respond("patch")
        let output = try #require(h.submittedInputs().first)
        #expect(output["type"] == "apply_patch_call_output" && output["status"] == "failed", "\(output)")
        #expect(!FileManager.default.fileExists(atPath: FileManager.default.currentDirectoryPath + "/x.txt"))
    }

    @Test("V4A: anchors, trailing white space, end of file, a new file's lines")
    func v4a() throws {
        let original = "a\nb  \nc\nd\na\nb\n"
        #expect(try V4ADiff.applied("@@ d\n a\n-b\n+B\n", to: original) == "a\nb  \nc\nd\na\nB\n", "the anchor picks the second 'a'")
        #expect(try V4ADiff.applied(" a\n-b\n+B\n", to: "a\nb  \nc\n") == "a\nB\nc\n", "trailing white space tolerated")
        #expect(try V4ADiff.applied("-b\n+END\n*** End of File\n", to: original) == "a\nb  \nc\nd\na\nEND\n")
        #expect(try V4ADiff.created("+x\n+y\n") == "x\ny\n")
        #expect(throws: V4ADiff.Failure.self) { try V4ADiff.created("x\n") }
        #expect(throws: V4ADiff.Failure.self) { try V4ADiff.applied("-zzz\n", to: original) }
    }
}
}
