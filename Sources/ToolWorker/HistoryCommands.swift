import ArgumentParser
import Foundation
import RunLoopCore

/// `toolworker runs`: recent runs from the history.
struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "runs", abstract: "List recent runs.")

    @OptionGroup var options: ConfigOption
    @Option(help: "How many.") var limit = 20
    @Option(help: "Only the runs of this thread (Assistants).") var thread: String?
    @Option(help: "Only the runs of this conversation (Responses; kept where a thread is: run_history.thread_id).") var conversation: String?
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        try await guarded {
            let history = JournalHistory(try openHistory(try options.load()))
            printRows(try history.runs(container: thread ?? conversation, limit: limit), json: json)
        }
    }
}

/// `--config FILE RUN [--json]`: the arguments of the commands that look at one run.
struct RunSelection: ParsableArguments {
    @OptionGroup var options: ConfigOption
    @Argument(help: "The run id.") var run: String
    @Flag(help: "Print JSON.") var json = false

    /// The history, read-only, after checking the run is in it (exit 64 when it is not).
    func openRun() throws -> JournalHistory {
        let config = try options.load()
        let history = JournalHistory(try openHistory(config))
        guard try history.contains(runID: run) else {
            throw CommandFailure(message: "no run \(run) in \(databaseLabel(config))", code: ExitStatus.usage)
        }
        return history
    }
}

/// `toolworker show RUN`: a run, its final messages and its tool calls.
struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one run: status, answer, tool calls.")

    @OptionGroup var selection: RunSelection

    func run() async throws {
        try await guarded {
            let history = try selection.openRun()
            let runID = selection.run
            let summary = try history.summary(runID: runID).map { [$0] } ?? []
            let messages = try history.finalMessages(runID: runID)
            let calls = try history.toolCalls(runID: runID)
            if selection.json {
                print(JSONValue.object(["run": rowsJSON(summary)[0], "messages": .array(rowsJSON(messages)), "tool_calls": .array(rowsJSON(calls))]).serialized())
                return
            }
            printRows(summary, json: false)
            print("\nmessages:")
            printRows(messages, json: false)
            print("\ntool calls:")
            printRows(calls, json: false)
        }
    }
}

/// `toolworker events RUN [--follow]`: the event log in order.
struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events", abstract: "Print a run's event log in order.",
        discussion: """
            With --follow, rows are printed as they land (tab-separated; with --json one JSON object a line) until             the run ends: it works while another process (serve, run, a daemon of the fleet) writes the journal.
            """)

    @OptionGroup var selection: RunSelection
    @Flag(help: "Keep printing new rows until the run ends.") var follow = false

    func run() async throws {
        try await guarded {
            let history = try selection.openRun()
            guard follow else {
                printRows(try history.events(runID: selection.run), json: selection.json)
                return
            }
            guard let identity = try history.run(id: selection.run) else { return }
            try await followEvents(history, runKey: identity.key)
        }
    }

    /// Prints run `runKey`'s rows as they land, every 200 ms, and returns once the run has ended and no row has
    /// landed for a second (the frames after a run's final event, its stream's `done`, are committed just after
    /// the run is marked ended).
    func followEvents(_ history: JournalHistory, runKey: Int64) async throws {
        var last = 0
        var quietSinceEnd = 0
        if !selection.json { writeLine("seq\tstream\tevent\tkind\treceived\terror\tdetail") }
        while true {
            let ended = try history.hasEnded(runKey: runKey)
            let rows = try history.events(runKey: runKey, after: last)
            for row in rows {
                last = Int(row["seq"].int ?? Int64(last))
                if selection.json {
                    writeLine(rowsJSON([row])[0].serialized())
                } else {
                    writeLine(row.values.map(cellText).joined(separator: "\t"))
                }
            }
            if ended {
                quietSinceEnd = rows.isEmpty ? quietSinceEnd + 1 : 0
                if quietSinceEnd >= 5 { return }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// One line on standard output, at once (a pipe gets every row as it lands, not when a buffer fills).
    private func writeLine(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}

func rowsJSON(_ rows: [SQLRow]) -> [JSONValue] {
    rows.map { row in
        .object(JSONObject(zip(row.columns, row.values).map { column, value -> (String, JSONValue) in
            switch value {
            case .null: return (column, .null)
            case .integer(let i): return (column, .int(i))
            case .real(let d): return (column, .double(d))
            case .text(let s): return (column, .string(s))
            case .blob(let b): return (column, .string("<\(b.count) bytes>"))
            }
        }))
    }
}

/// A value as the history's text output shows it: server text with its control characters escaped.
func cellText(_ value: SQLValue) -> String {
    switch value {
    case .null: "-"
    case .integer(let i): String(i)
    case .real(let d): String(d)
    case .text(let s): ControlCharacters.escaped(s)
    case .blob(let b): "<\(b.count) bytes>"
    }
}

func printRows(_ rows: [SQLRow], json: Bool) {
    if json {
        print(JSONValue.array(rowsJSON(rows)).serialized())
        return
    }
    guard let columns = rows.first?.columns else {
        print("(none)")
        return
    }
    let cells = rows.map { $0.values.map(cellText) }
    let widths = columns.indices.map { i in min(60, max(columns[i].count, cells.map { $0[i].count }.max() ?? 0)) }
    func line(_ values: [String]) -> String {
        zip(values, widths).map { value, width in
            let clipped = value.count > width ? String(value.prefix(width - 1)) + "…" : value
            return clipped.padding(toLength: width, withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
    }
    print(line(columns))
    for row in cells { print(line(row)) }
}
