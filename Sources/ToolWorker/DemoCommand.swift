import ArgumentParser
import Foundation

/// `toolworker demo`: the README's demo, from an installed or built toolworker.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the demo: a fake Assistants server on loopback, an example handler, a real SQLite file.",
        discussion: "Needs the fake-assistants program next to toolworker (swift build --product fake-assistants).")

    func run() async throws {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let script = here.appendingPathComponent("../../../scripts/demo.sh").standardizedFileURL.path
        let fake = here.appendingPathComponent("fake-assistants").path
        guard FileManager.default.isExecutableFile(atPath: fake), FileManager.default.fileExists(atPath: script) else {
            FileHandle.standardError.write(Data("toolworker: the demo needs a source checkout: run scripts/demo.sh there\n".utf8))
            throw ExitCode(69)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script]
        try process.run()
        process.waitUntilExit()
        throw ExitCode(process.terminationStatus)
    }
}
