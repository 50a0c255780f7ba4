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
            let db = try openHistory(try options.load())
            let container = thread ?? conversation
            let rows = try db.query(
                "SELECT run_id, thread_id, assistant_id, status, created, duration_s, rounds, tool_calls, error_code FROM run_history"
                    + (container == nil ? "" : " WHERE thread_id = ?") + " ORDER BY run_key DESC LIMIT ?",
                (container.map { [SQLValue.text($0)] } ?? []) + [.integer(Int64(limit))])
            printRows(rows, json: json)
        }
    }
}

/// `--config FILE RUN [--json]`: the arguments of the commands that look at one run.
struct RunSelection: ParsableArguments {
    @OptionGroup var options: ConfigOption
    @Argument(help: "The run id.") var run: String
    @Flag(help: "Print JSON.") var json = false

    /// The history, read-only, after checking the run is in it (exit 64 when it is not).
    func openRun() throws -> any JournalConnection {
        let config = try options.load()
        let db = try openHistory(config)
        guard try !db.query("SELECT 1 FROM run_history WHERE run_id = ?", [.text(run)]).isEmpty else {
            throw CommandFailure(message: "no run \(run) in \(databaseLabel(config))", code: ExitStatus.usage)
        }
        return db
    }
}

/// `toolworker show RUN`: a run, its final messages and its tool calls.
struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one run: status, answer, tool calls.")

    @OptionGroup var selection: RunSelection

    func run() async throws {
        try await guarded {
            let db = try selection.openRun()
            let runID = selection.run
            let summary = try db.query("SELECT * FROM run_history WHERE run_id = ?", [.text(runID)])
            let messages = try db.query(
                "SELECT object_id AS message_id, status, coalesce(\(db.dialect.jsonText("data", ["content", "0", "text", "value"])), \(db.dialect.jsonText("data", ["content", "0", "text"]))) AS text FROM snapshot_log WHERE run_key = (SELECT run_key FROM run_history WHERE run_id = ?) AND object_type = 'message' AND is_latest ORDER BY snapshot_id",
                [.text(runID)])
            let calls = try db.query(
                "SELECT call_id, round, tool, state, error, exit_code, duration_ms, substr(output, 1, 200) AS output FROM tool_call_log WHERE run_key = (SELECT run_key FROM run_history WHERE run_id = ?) ORDER BY round, call_id",
                [.text(runID)])
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

/// `toolworker events RUN`: the event log in order.
struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "events", abstract: "Print a run's event log in order.")

    @OptionGroup var selection: RunSelection

    func run() async throws {
        try await guarded {
            let db = try selection.openRun()
            let rows = try db.query(
                "SELECT seq, stream, event, kind, received, error FROM event_log WHERE run_id = ? ORDER BY seq", [.text(selection.run)])
            printRows(rows, json: selection.json)
        }
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

func printRows(_ rows: [SQLRow], json: Bool) {
    if json {
        print(JSONValue.array(rowsJSON(rows)).serialized())
        return
    }
    guard let columns = rows.first?.columns else {
        print("(none)")
        return
    }
    let cells = rows.map { row in row.values.map { value -> String in
        switch value {
        case .null: return "-"
        case .integer(let i): return String(i)
        case .real(let d): return String(d)
        case .text(let s): return ControlCharacters.escaped(s)
        case .blob(let b): return "<\(b.count) bytes>"
        }
    } }
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
