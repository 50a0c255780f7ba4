import Foundation
import Journal
import Logging
import Operations
import Synchronization
import WireFormat
import WorkModel

/// The operator console, answered by the daemon's HTTP listener (the one that serves `/metrics`): server-rendered
/// pages of runs, a run's rounds, the approvals inbox, the queue and usage, and one event stream that tells a live
/// page to refresh.
///
/// Security: every page but the login form needs a session cookie (after the login form took a token) or
/// `Authorization: Bearer TOKEN`; each session has its own CSRF token, which every decision must carry; failed
/// logins are limited per client address (5 a minute); every server-supplied text is escaped; pages read through a
/// read-only connection; each decision is journaled as the CLI's, with the token's identity, and logged.
public final class ConsoleServer: Sendable {
    struct Session: Sendable {
        var identity: String
        var csrf: String
        var expires: ContinuousClock.Instant
    }

    struct State: Sendable {
        var sessions: [String: Session] = [:]
        var failures: [String: (count: Int, since: ContinuousClock.Instant)] = [:]
        var streams = 0
    }

    let settings: ConsoleSettings
    let journal: ConsoleJournal
    let logger: Logger
    let state = Mutex(State())
    static let cookie = "toolworker_console"
    static let sessionLifetime: Duration = .seconds(12 * 3600)
    static let maxStreams = 16

    public init(settings: ConsoleSettings, journal: ConsoleJournal, logger: Logger) {
        self.settings = settings
        self.journal = journal
        self.logger = logger
    }

    /// The listener's route: `nil` for a path outside the console.
    public func handle(_ request: HTTPServerRequest) -> HTTPServerResponse? {
        let prefix = settings.prefix
        guard request.path == prefix || request.path.hasPrefix(prefix + "/") else { return nil }
        let path = String(request.path.dropFirst(prefix.count))
        switch (request.method, path) {
        case ("GET", "/static/console.css"): return asset(Assets.css, type: "text/css; charset=utf-8")
        case ("GET", "/static/console.js"): return asset(Assets.script, type: "text/javascript; charset=utf-8")
        case ("GET", "/login"): return page(status: 200, title: "Sign in", identity: nil, body: loginForm(message: nil))
        case ("POST", "/login"): return login(request)
        default: break
        }
        guard let (identity, session) = authenticate(request) else {
            return page(status: 401, title: "Sign in", identity: nil, body: loginForm(message: "Sign in to continue."))
        }
        do {
            switch (request.method, path) {
            case ("GET", ""), ("GET", "/"): return redirect(prefix + "/runs")
            case ("POST", "/logout"):
                if let id = request.cookies[Self.cookie] { _ = state.withLock { $0.sessions.removeValue(forKey: id) } }
                return .complete(status: 303, headers: [("Location", prefix + "/login"), ("Set-Cookie", "\(Self.cookie)=; Max-Age=0; Path=\(prefix)/; HttpOnly; SameSite=Strict")], body: [])
            case ("GET", "/runs"): return page(status: 200, title: "Runs", identity: identity, body: try runsPage(request.query))
            case ("GET", _) where path.hasPrefix("/runs/"):
                let id = String(path.dropFirst("/runs/".count))
                guard let body = try runPage(id, csrf: session?.csrf) else { return page(status: 404, title: "Not found", identity: identity, body: "<p>No run \(HTML.escape(id)).</p>") }
                return page(status: 200, title: "Run \(id)", identity: identity, body: body, live: prefix + "/live?run=" + (id.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""))
            case ("GET", "/approvals"):
                return page(status: 200, title: "Approvals", identity: identity, body: try approvalsPage(csrf: session?.csrf, notice: request.query["notice"]), live: prefix + "/live?approvals=1")
            case ("POST", "/approvals/decide"): return decide(request, identity: identity, session: session)
            case ("GET", "/queue"): return page(status: 200, title: "Queue and health", identity: identity, body: try queuePage())
            case ("GET", "/usage"): return page(status: 200, title: "Usage", identity: identity, body: try usagePage())
            case ("GET", "/live"): return live(request.query)
            default: return page(status: 404, title: "Not found", identity: identity, body: "<p>Nothing here.</p>")
            }
        } catch {
            logger.error("console page failed", metadata: ["path": "\(path)", "error": "\(error)"])
            return page(status: 503, title: "Unavailable", identity: identity, body: "<p>The journal could not be read: \(HTML.escape("\(error)"))</p>")
        }
    }

    // MARK: Authentication

    /// The identity of a request with a valid session cookie (with its session) or bearer token (without one).
    func authenticate(_ request: HTTPServerRequest) -> (String, Session?)? {
        if let header = request.headers["authorization"], header.lowercased().hasPrefix("bearer ") {
            return identity(forToken: String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)).map { ($0, nil) }
        }
        guard let id = request.cookies[Self.cookie] else { return nil }
        let now = ContinuousClock.now
        return state.withLock { state -> (String, Session?)? in
            guard let session = state.sessions[id] else { return nil }
            guard session.expires > now else {
                state.sessions[id] = nil
                return nil
            }
            return (session.identity, session)
        }
    }

    /// The identity `token` signs in as, compared in constant time against every configured token.
    func identity(forToken token: String) -> String? {
        var found: String?
        for entry in settings.tokens where Self.equal(Array(entry.token.utf8), Array(token.utf8)) { found = entry.identity }
        return found
    }

    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) { difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 1) }
        return difference == 0
    }

    func login(_ request: HTTPServerRequest) -> HTTPServerResponse {
        let client = request.remoteAddress
        let now = ContinuousClock.now
        let blocked = state.withLock { state -> Bool in
            if let entry = state.failures[client], now - entry.since < .seconds(60), entry.count >= 5 { return true }
            return false
        }
        if blocked {
            logger.warning("console: sign-in refused, too many failures", metadata: ["client": "\(client)"])
            return page(status: 429, title: "Sign in", identity: nil, body: loginForm(message: "Too many failed attempts: wait a minute."))
        }
        guard let identity = identity(forToken: request.formFields["token"] ?? "") else {
            state.withLock { state in
                var entry = state.failures[client] ?? (0, now)
                if now - entry.since >= .seconds(60) { entry = (0, now) }
                entry.count += 1
                state.failures[client] = entry
            }
            logger.warning("console: sign-in failed", metadata: ["client": "\(client)"])
            return page(status: 401, title: "Sign in", identity: nil, body: loginForm(message: "That token is not valid."))
        }
        let id = Self.randomHex(32)
        let session = Session(identity: identity, csrf: Self.randomHex(32), expires: now + Self.sessionLifetime)
        state.withLock { state in
            state.failures[client] = nil
            state.sessions = state.sessions.filter { $0.value.expires > now }
            state.sessions[id] = session
        }
        logger.notice("console: signed in", metadata: ["identity": "\(identity)", "client": "\(client)"])
        return .complete(status: 303, headers: [
            ("Location", settings.prefix + "/runs"),
            ("Set-Cookie", "\(Self.cookie)=\(id); Path=\(settings.prefix)/; HttpOnly; SameSite=Strict; Max-Age=\(Int(Self.sessionLifetime.components.seconds))"),
        ], body: [])
    }

    static func randomHex(_ bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    // MARK: Decisions

    func decide(_ request: HTTPServerRequest, identity: String, session: Session?) -> HTTPServerResponse {
        let form = request.formFields
        // A cookie session must send its CSRF token; a bearer request cannot be forged by another site.
        if let session, !Self.equal(Array((form["csrf"] ?? "").utf8), Array(session.csrf.utf8)) {
            logger.warning("console: decision refused, CSRF token missing or wrong", metadata: ["identity": "\(identity)", "client": "\(request.remoteAddress)"])
            return page(status: 403, title: "Refused", identity: identity, body: "<p>The form was not this session's (CSRF token missing or wrong). Nothing was decided.</p>")
        }
        guard let callID = form["call_id"], !callID.isEmpty, let runKey = form["run_key"].flatMap(Int64.init),
              let decision = form["decision"].flatMap(ApprovalDecision.init(rawValue:)), decision == .approved || decision == .denied
        else {
            return page(status: 400, title: "Bad request", identity: identity, body: "<p>A decision needs call_id, run_key and decision (approved or denied).</p>")
        }
        let reason = form["reason"].flatMap { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : $0 }
        if decision == .denied && reason == nil {
            return page(status: 400, title: "Bad request", identity: identity, body: "<p>A denial needs a reason: the model is told it.</p>")
        }
        let who = "console:\(identity)"
        let journal = self.journal
        let decided: Result<Bool, any Error> = Self.blocking { try await journal.decide(runKey, callID, decision, who, reason) }
        switch decided {
        case .success(true):
            logger.notice("console: approval decided", metadata: [
                "identity": "\(identity)", "client": "\(request.remoteAddress)", "call_id": "\(callID)", "run_key": "\(runKey)",
                "decision": "\(decision.rawValue)",
            ])
            return redirect(settings.prefix + "/approvals?notice=" + ("\(callID) \(decision.rawValue)".addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""))
        case .success(false):
            return page(status: 409, title: "Already decided", identity: identity, body: "<p>Call \(HTML.escape(callID)) is not waiting for a decision (it was decided already: the first decision stands).</p>")
        case .failure(let error):
            logger.error("console: a decision could not be journaled", metadata: ["call_id": "\(callID)", "error": "\(error)"])
            return page(status: 503, title: "Unavailable", identity: identity, body: "<p>The decision could not be journaled: \(HTML.escape("\(error)"))</p>")
        }
    }

    /// Runs async work from a listener thread (not the cooperative pool) and waits for it.
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) -> Result<T, any Error> {
        let box = Mutex<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let result: Result<T, any Error>
            do { result = .success(try await body()) } catch { result = .failure(error) }
            box.withLock { $0 = result }
            done.signal()
        }
        done.wait()
        return box.withLock { $0! }
    }

    // MARK: Live pages

    /// An event stream that says `change` whenever what the page shows moved (a run's events, status, rounds; the
    /// approvals), and `ended` once the run is over.
    func live(_ query: [String: String]) -> HTTPServerResponse {
        let admitted = state.withLock { state -> Bool in
            guard state.streams < Self.maxStreams else { return false }
            state.streams += 1
            return true
        }
        guard admitted else { return .complete(status: 503, headers: [("Retry-After", "5")], body: Array("too many live pages\n".utf8)) }
        let journal = self.journal
        let runID = query["run"]
        return .stream(headers: [("Content-Type", "text/event-stream")]) { [self] write in
            defer { state.withLock { $0.streams -= 1 } }
            var runKey: Int64?
            if let runID { runKey = try? journal.query { try $0.run(id: runID)?.key } }
            var last = ""
            guard write(": live\n\n") else { return }
            var idle = 0
            while true {
                let mark: String
                var ended = false
                do {
                    if let runKey {
                        mark = try journal.query { try $0.runMark(runKey: runKey) }
                        ended = try journal.query { try $0.hasEnded(runKey: runKey) }
                    } else {
                        mark = try journal.query { try $0.approvalsMark() }
                    }
                } catch { return }
                if mark != last && !last.isEmpty {
                    guard write("event: change\ndata: \(mark)\n\n") else { return }
                }
                last = mark
                if ended {
                    _ = write("event: ended\ndata: \(mark)\n\n")
                    return
                }
                idle += 1
                // A comment every 10 s keeps proxies from closing an idle stream and finds a client that left.
                if idle % 20 == 0, !write(": keep-alive\n\n") { return }
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
    }

    // MARK: Responses

    func asset(_ text: String, type: String) -> HTTPServerResponse {
        .complete(status: 200, headers: [("Content-Type", type), ("Cache-Control", "max-age=300"), ("X-Content-Type-Options", "nosniff")], body: Array(text.utf8))
    }

    func redirect(_ location: String) -> HTTPServerResponse {
        .complete(status: 303, headers: [("Location", location)], body: [])
    }

    /// A whole page: the layout around `body`, with the security headers every page carries.
    func page(status: Int, title: String, identity: String?, body: String, live: String? = nil) -> HTTPServerResponse {
        let prefix = HTML.escape(settings.prefix)
        var nav = ""
        if let identity {
            nav = [("runs", "Runs"), ("approvals", "Approvals"), ("queue", "Queue and health"), ("usage", "Usage")]
                .map { "<a href=\"\(prefix)/\($0.0)\">\($0.1)</a>" }.joined()
            nav += "<span class=\"who\">signed in as \(HTML.escape(identity))</span>"
            nav += "<form class=\"inline\" method=\"post\" action=\"\(prefix)/logout\"><button>Sign out</button></form>"
        }
        let html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>\(HTML.escape(title)) · ToolWorker</title>
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <link rel="stylesheet" href="\(prefix)/static/console.css"></head>
            <body\(live.map { " data-live=\"\(HTML.escape($0))\"" } ?? "")>
            <header><strong>ToolWorker</strong>\(nav)</header>
            <main><h1>\(HTML.escape(title))</h1>\(body)</main>
            <script src="\(prefix)/static/console.js"></script>
            </body></html>
            """
        return .complete(status: status, headers: [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'"),
            ("X-Frame-Options", "DENY"), ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"), ("Cache-Control", "no-store"),
        ], body: Array(html.utf8))
    }

    func loginForm(message: String?) -> String {
        (message.map { "<p class=\"notice\">\(HTML.escape($0))</p>" } ?? "") + """
            <form method="post" action="\(HTML.escape(settings.prefix))/login">
            <label>Console token <input type="password" name="token" autocomplete="current-password" autofocus></label>
            <button type="submit">Sign in</button></form>
            """
    }
}
