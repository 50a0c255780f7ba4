import Foundation
import Journal
import WireFormat
import WorkModel

/// The console's pages, rendered from the journal's read model.
extension ConsoleServer {
    static let pageSize = 50

    func text(_ value: SQLValue) -> String {
        switch value {
        case .null: "-"
        case .integer(let i): String(i)
        case .real(let d): String(format: "%.3f", d)
        case .text(let s): s
        case .blob(let b): "<\(b.count) bytes>"
        }
    }

    func link(_ path: String, _ label: String) -> String {
        "<a href=\"\(HTML.escape(settings.prefix + path))\">\(HTML.escape(label))</a>"
    }

    func runLink(_ id: String) -> String {
        link("/runs/" + (id.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "_-."))) ?? id), id)
    }

    /// Runs, filtered by status, protocol, thread or conversation, metadata and age, 50 a page.
    func runsPage(_ query: [String: String]) throws -> String {
        var filter = JournalHistory.RunFilter()
        func given(_ key: String) -> String? { query[key].flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 } }
        filter.status = given("status")
        filter.protocolName = given("protocol")
        filter.container = given("thread")
        if let pair = given("metadata"), let equals = pair.firstIndex(of: "=") {
            filter.metadata = (String(pair[..<equals]), String(pair[pair.index(after: equals)...]))
        }
        if let since = given("since"), let age = Duration.parse(since, requireUnit: true) {
            filter.since = unixMilliseconds() - Int64(age.milliseconds)
        }
        let pageNumber = max(1, Int(query["page"] ?? "1") ?? 1)
        let rows = try journal.query { try $0.runs(filter, limit: Self.pageSize + 1, offset: (pageNumber - 1) * Self.pageSize) }
        let statuses = ["", "queued", "in_progress", "requires_action", "awaiting_approval", "completed", "failed", "incomplete", "expired", "cancelled", "error", "budget_exceeded"]
        var out = "<form class=\"filters\" method=\"get\" action=\"\(HTML.escape(settings.prefix))/runs\">"
        out += "<select name=\"status\" aria-label=\"status\">" + statuses.map { "<option value=\"\($0)\"\(filter.status == $0 ? " selected" : "")>\($0.isEmpty ? "any status" : $0)</option>" }.joined() + "</select>"
        out += "<select name=\"protocol\" aria-label=\"protocol\">" + ["", "assistants", "responses"].map { "<option value=\"\($0)\"\(filter.protocolName == $0 ? " selected" : "")>\($0.isEmpty ? "any protocol" : $0)</option>" }.joined() + "</select>"
        out += "<input name=\"thread\" placeholder=\"thread or conversation\" value=\"\(HTML.escape(filter.container ?? ""))\">"
        out += "<input name=\"metadata\" placeholder=\"metadata KEY=VALUE\" value=\"\(HTML.escape(query["metadata"] ?? ""))\">"
        out += "<input name=\"since\" placeholder=\"since (24h, 7d)\" value=\"\(HTML.escape(query["since"] ?? ""))\">"
        out += "<button>Filter</button></form>"
        let shown = rows.prefix(Self.pageSize).map { row -> [String] in
            [runLink(row["run_id"].text ?? "?"), "<span class=\"status-\(HTML.escape(row["status"].text ?? ""))\">\(HTML.escape(row["status"].text ?? "-"))</span>",
             HTML.escape(text(row["protocol"])), HTML.escape(text(row["thread_id"])), HTML.escape(text(row["created"])), HTML.escape(text(row["duration_s"])),
             HTML.escape(text(row["rounds"])), HTML.escape(text(row["tool_calls"])), HTML.escape(text(row["error_code"]))]
        }
        out += HTML.table(["run", "status", "protocol", "thread or conversation", "created", "duration (s)", "rounds", "tool calls", "error"], Array(shown), raw: Set(0..<9))
        var pages: [String] = []
        var base = query
        if pageNumber > 1 {
            base["page"] = String(pageNumber - 1)
            pages.append("<a href=\"\(HTML.escape(settings.prefix + "/runs?" + Self.encode(base)))\">newer</a>")
        }
        if rows.count > Self.pageSize {
            base["page"] = String(pageNumber + 1)
            pages.append("<a href=\"\(HTML.escape(settings.prefix + "/runs?" + Self.encode(base)))\">older</a>")
        }
        return out + "<p>page \(pageNumber) " + pages.joined(separator: " · ") + "</p>"
    }

    static func encode(_ query: [String: String]) -> String {
        query.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&")
    }

    /// One run: its summary, usage, rounds as a timeline (each call's state, duration, outcome, output, limits),
    /// waiting approvals, final messages and latest events. `nil` when there is no such run.
    func runPage(_ runID: String, csrf: String?) throws -> String? {
        guard let identity = try journal.query({ try $0.run(id: runID) }) else { return nil }
        let summary = try journal.query { try $0.summary(runID: runID) }
        let calls = try journal.query { try $0.consoleToolCalls(runKey: identity.key) }
        let messages = try journal.query { try $0.finalMessages(runID: runID) }
        let events = try journal.query { try $0.consoleEvents(runKey: identity.key, limit: 200) }
        let usage = try journal.query { try $0.consoleUsage(runKey: identity.key) }
        let running = try journal.query { try $0.runningCalls() }.filter { $0["run_id"].text == runID }
        var out = ""
        if !identity.ended { out += "<p class=\"live\" id=\"live\">live: this page follows the run</p>" }
        if let summary {
            let keys = ["status", "protocol", "thread_id", "assistant_id", "job_id", "created", "ended", "duration_s", "rounds", "tool_calls", "tool_errors", "error_code"]
            out += HTML.table(["field", "value"], keys.compactMap { key in summary.columns.contains(key) ? [key, text(summary[key])] : nil })
        }
        if let usage {
            out += "<h2>Usage</h2>" + HTML.table(
                ["model", "requests", "input", "output", "total", "cost"],
                [[text(usage["model"]), text(usage["requests"]), text(usage["input_tokens"]), text(usage["output_tokens"]), text(usage["total_tokens"]),
                  usage["cost"].double.map { String(format: "%.4f %@", $0, usage["currency"].text ?? "") } ?? "unpriced"]])
        }
        out += "<h2>Rounds</h2>"
        let rounds = Dictionary(grouping: calls) { $0["round"].int ?? 0 }
        if rounds.isEmpty { out += "<p class=\"empty\">no tool calls</p>" }
        for round in rounds.keys.sorted() {
            out += "<div class=\"round\"><h3>Round \(round)</h3>"
            for call in rounds[round] ?? [] {
                let tool = call["tool"].text ?? "?"
                let state = call["state"].text ?? "?"
                var outcome = state
                if let error = call["error"].text { outcome += " (\(error))" }
                if let exit = call["exit_code"].int { outcome += ", exit \(exit)" }
                out += "<div class=\"call\"><strong>\(HTML.escape(tool))</strong> <code>\(HTML.escape(call["call_id"].text ?? ""))</code> "
                out += "<span class=\"state-\(HTML.escape(state))\">\(HTML.escape(outcome))</span>"
                if let duration = call["duration_ms"].int { out += " · \(duration) ms" }
                if let limits = settings.toolLimits[tool] { out += " · limits: \(HTML.escape(limits))" }
                if let live = running.first(where: { $0["call_id"].text == call["call_id"].text })?["last_output"].text {
                    out += "<div>running; latest output:</div><pre>\(HTML.escape(live))</pre>"
                }
                out += "<div>arguments</div><pre>\(HTML.json(call["arguments"].text ?? ""))</pre>"
                if let output = call["output"].text {
                    out += "<div>output\((call["output_truncated"].int ?? 0) == 1 ? " (truncated)" : "")</div><pre>\(HTML.escape(output))</pre>"
                }
                out += "</div>"
            }
            out += "</div>"
        }
        let waiting = try approvalsRows().filter { $0.runID == runID }
        if !waiting.isEmpty { out += "<h2>Waiting for a decision</h2>" + approvalForms(waiting, csrf: csrf) }
        out += "<h2>Final messages</h2>" + HTML.table(["message", "status", "text"], messages.map { [text($0["message_id"]), text($0["status"]), text($0["text"])] })
        out += "<h2>Events (latest 200)</h2>" + HTML.table(
            ["seq", "stream", "event", "kind", "received", "error", "detail"],
            events.map { row in ["seq", "stream", "event", "kind", "received", "error", "detail"].map { text(row[$0]) } })
        return out
    }

    struct Waiting {
        var runKey: Int64
        var runID: String
        var record: ApprovalRecord
    }

    func approvalsRows() throws -> [Waiting] {
        let journal = self.journal
        let pending: [ApprovalRecord]
        switch Self.blocking({ try await journal.pending() }) {
        case .success(let records): pending = records
        case .failure(let error): throw error
        }
        let ids = try journal.query { history in
            try Dictionary(pending.map { ($0.runKey, try history.runID(runKey: $0.runKey) ?? "run key \($0.runKey)") }, uniquingKeysWith: { a, _ in a })
        }
        return pending.map { Waiting(runKey: $0.runKey, runID: ids[$0.runKey] ?? "?", record: $0) }
    }

    func approvalForms(_ waiting: [Waiting], csrf: String?) -> String {
        let now = unixMilliseconds()
        var out = ""
        for item in waiting {
            let record = item.record
            let waited = max(0, now - record.requestedAt) / 1000
            out += "<div class=\"round approval\" data-call=\"\(HTML.escape(record.callID))\">"
            out += "<h3>\(HTML.escape(record.tool)) <code>\(HTML.escape(record.callID))</code></h3>"
            out += "<p>run \(runLink(item.runID)) · waiting \(waited) s</p>"
            out += "<pre>\(HTML.json(record.arguments))</pre>"
            let hidden = "<input type=\"hidden\" name=\"call_id\" value=\"\(HTML.escape(record.callID))\"><input type=\"hidden\" name=\"run_key\" value=\"\(item.runKey)\">"
                + (csrf.map { "<input type=\"hidden\" name=\"csrf\" value=\"\(HTML.escape($0))\">" } ?? "")
            let action = HTML.escape(settings.prefix + "/approvals/decide")
            out += "<form class=\"inline\" method=\"post\" action=\"\(action)\">\(hidden)<input type=\"hidden\" name=\"decision\" value=\"approved\">"
            out += "<input name=\"reason\" placeholder=\"reason (optional)\"><button class=\"approve\">Approve</button></form>"
            out += "<form class=\"inline\" method=\"post\" action=\"\(action)\">\(hidden)<input type=\"hidden\" name=\"decision\" value=\"denied\">"
            out += "<input name=\"reason\" placeholder=\"reason (told to the model)\" required><button class=\"deny\">Deny</button></form>"
            out += "</div>"
        }
        return out
    }

    /// Every call waiting for a decision, with its arguments, run and wait; approve or deny with a reason.
    func approvalsPage(csrf: String?, notice: String?) throws -> String {
        let waiting = try approvalsRows()
        var out = notice.map { "<p class=\"notice\">decided: \(HTML.escape($0))</p>" } ?? ""
        out += waiting.isEmpty ? "<p class=\"empty\">No call is waiting for a decision.</p>" : approvalForms(waiting, csrf: csrf)
        return out
    }

    /// Jobs by state, what `toolworker status` shows, and a link to the metrics.
    func queuePage() throws -> String {
        let counts = try journal.query { try $0.jobCounts() }
        let active = try journal.query { try $0.activeRuns() }
        let running = try journal.query { try $0.runningCalls() }
        let failures = try journal.query { try $0.failures(since: unixMilliseconds() - 3_600_000) }
        let limits = try journal.query { try $0.activeLimits(now: unixMilliseconds()) }
        let leases = try journal.query { try $0.fleetLeases() }
        var out = "<h2>Jobs</h2>" + HTML.table(["state", "jobs"], JobState.allCases.map { [$0.rawValue, String(counts[$0] ?? 0)] })
        out += "<h2>Daemons holding runs</h2>" + HTML.table(["owner", "runs"], leases.map { [$0.owner, String($0.runs)] })
        out += "<h2>Active runs</h2>" + HTML.table(["run", "status", "age (s)", "rounds", "running handlers", "job"], active.map { row in
            [runLink(row["run_id"].text ?? "?"), HTML.escape(text(row["status"])), HTML.escape(text(row["age_s"])), HTML.escape(text(row["rounds"])),
             HTML.escape(text(row["running_handlers"])), HTML.escape(text(row["job_id"]))]
        }, raw: Set(0..<6))
        out += "<h2>Running tool calls</h2>" + HTML.table(["run", "call", "tool", "running (s)", "latest output"], running.map { row in
            ["run_id", "call_id", "tool", "running_s", "last_output"].map { text(row[$0]) }
        })
        out += "<h2>Failures in the last hour</h2>" + HTML.table(["run", "status", "error", "ended"], failures.map { row in
            [runLink(row["run_id"].text ?? "?"), HTML.escape(text(row["status"])), HTML.escape(text(row["error_code"])), HTML.escape(text(row["ended"]))]
        }, raw: Set(0..<4))
        out += "<h2>Keys and rate limits</h2>" + HTML.table(["scope", "until", "reason"], limits.map { [$0.scope, Self.iso($0.until), $0.reason] })
        out += "<p>Metrics: <a href=\"/metrics\">/metrics</a> (Prometheus text)</p>"
        return out
    }

    /// Tokens and cost per day and per model, as server-rendered SVG.
    func usagePage() throws -> String {
        let since = unixMilliseconds() - 30 * 86_400_000
        let days = try journal.query { try $0.usage(since: since, by: .day) }.sorted { $0.key < $1.key }
        let models = try journal.query { try $0.usage(since: since, by: .model) }
        var out = "<p>The last 30 days, from the usage ledger.</p>"
        out += HTML.bars("Tokens per day", days.map { ($0.key, Double($0.tokens.input + $0.tokens.output)) }, unit: "tokens")
        out += HTML.bars("Tokens per model", models.map { ($0.key, Double($0.tokens.input + $0.tokens.output)) }, unit: "tokens")
        let dailyCosts = days.flatMap { total in total.cost.map { (label: "\(total.key) (\($0.key))", value: $0.value) } }
        out += HTML.bars("Cost per day", dailyCosts, unit: "")
        let costs = models.flatMap { total in total.cost.map { (label: "\(total.key) (\($0.key))", value: $0.value) } }
        out += HTML.bars("Cost per model", costs, unit: "")
        return out
    }

    static func iso(_ ms: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        return formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }
}
