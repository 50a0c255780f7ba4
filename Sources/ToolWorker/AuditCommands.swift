import ArgumentParser
import Foundation
import RunLoopCore

/// `toolworker verify RUN` / `verify --all [--since D]`: the stored snapshots rebuilt from the stored frames.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check that a run's stored snapshots are what its stored frames produce.",
        discussion: """
            Every frame of the run is accumulated again, as its streams were, and each snapshot stored after an \
            event is compared with the rebuilt one (a sampled delta snapshot where it was stored; a snapshot read \
            back from the server is counted, not compared). Exit status: 0 every run verified, 1 a divergence \
            (named: round, event, stream, object, JSON path, both values), 64 usage.
            """)

    @OptionGroup var options: ConfigOption
    @Argument(help: "The run id.") var run: String?
    @Flag(help: "Verify every run (with --since, the recent ones).") var all = false
    @Option(help: "With --all: only runs created this recently (7d, 12h).") var since: String?
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        if all == (run != nil) { throw ValidationError("give a run id or --all") }
        if since != nil && !all { throw ValidationError("--since goes with --all") }
        if let since, Duration.parse(since, requireUnit: true) == nil { throw ValidationError("--since takes a duration such as 7d or 12h, not '\(since)'") }
    }

    func run() async throws {
        try await guarded {
            let config = try options.load()
            let history = JournalHistory(try openHistory(config))
            let runs: [JournalHistory.RunIdentity]
            if let run {
                guard let found = try history.run(id: run) else {
                    throw CommandFailure(message: "no run \(run) in \(databaseLabel(config))", code: ExitStatus.usage)
                }
                runs = [found]
            } else {
                let cut = since.flatMap { Duration.parse($0, requireUnit: true) }.map { unixMilliseconds() - Int64($0.milliseconds) }
                runs = try history.runs(since: cut)
            }
            var diverging = 0
            var results: [JSONValue] = []
            for identity in runs {
                let frames = try history.storedFrames(runKey: identity.key)
                let stored = try history.storedSnapshots(runKey: identity.key)
                guard let descriptor = Protocols.descriptor(identity.protocolName) else {
                    throw CommandFailure(message: "run \(identity.runID) is of protocol \(identity.protocolName), which this build does not speak", code: ExitStatus.usage)
                }
                let report = RunVerifier.verify(frames: frames, stored: stored, rebuilt: descriptor.rebuild(frames))
                if report.divergence != nil { diverging += 1 }
                var entry: JSONObject = [
                    "run_id": .string(identity.runID), "frames": .int(Int64(report.frames)), "compared": .int(Int64(report.compared)),
                    "retrieved": .int(Int64(report.retrieved)), "verified": .bool(report.divergence == nil),
                ]
                if let divergence = report.divergence {
                    entry["divergence"] = [
                        "round": .int(Int64(divergence.round)), "event_seq": .int(Int64(divergence.eventSeq)), "stream": .int(Int64(divergence.stream)),
                        "object": .string(divergence.object), "path": divergence.difference.map { .string($0.path) } ?? .null,
                        "stored": divergence.difference?.left ?? .null, "rebuilt": divergence.difference?.right ?? .null,
                    ]
                }
                results.append(.object(entry))
                guard !json else { continue }
                if let divergence = report.divergence {
                    print(ControlCharacters.escaped("\(identity.runID): DIVERGES at \(divergence)"))
                } else if run != nil || !all {
                    print("\(identity.runID): verified (\(report.frames) frames, \(report.compared) snapshots compared, \(report.retrieved) read back from the server)")
                }
            }
            if json {
                print(JSONValue.array(results).serialized())
            } else if all {
                print("verified \(runs.count) runs: \(runs.count - diverging) clean, \(diverging) diverging")
            }
            if diverging > 0 { throw ExitCode(1) }
        }
    }
}

/// `toolworker replay RUN --sse [--round N]`: the run's stored frames as an event stream.
struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Write a run's stored frames as a server-sent event stream.",
        discussion: """
            Each frame's event name and data exactly as received, framed as `event:` and `data:` lines (a data \
            line per line of data) and a blank line; ToolWorker's own notes are left out. An official SDK's stream \
            reader accepts it. --round N writes only the frames of that round (0: the start's answer; N: the \
            answer to round N's outputs).
            """)

    @OptionGroup var selection: RunSelection
    @Flag(help: "As a server-sent event stream (the only format).") var sse = false
    @Option(help: "Only this round's frames.") var round: Int?

    func validate() throws {
        guard sse else { throw ValidationError("say the format: --sse") }
        if let round, round < 0 { throw ValidationError("--round takes 0 or more, not \(round)") }
    }

    func run() async throws {
        try await guarded {
            _ = try selection.openRun()
            let config = try selection.options.load()
            let history = JournalHistory(try openHistory(config))
            guard let identity = try history.run(id: selection.run), let descriptor = Protocols.descriptor(identity.protocolName) else {
                throw CommandFailure(message: "no run \(selection.run) in \(databaseLabel(config))", code: ExitStatus.usage)
            }
            let frames = try history.storedFrames(runKey: identity.key).filter { $0.kind != .note }
            let rounds = round == nil ? [:] : descriptor.rebuild(frames).rounds
            var out = ""
            for frame in frames where round == nil || rounds[frame.seq] == round {
                out += SSEFrame(event: frame.name, data: frame.data).encoded
            }
            FileHandle.standardOutput.write(Data(out.utf8))
        }
    }
}
