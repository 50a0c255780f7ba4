import WireFormat
import WorkModel
/// The audit database's schema, as numbered forward-only migrations.
///
/// Append a migration, never edit one that has shipped: `PRAGMA user_version` records how many ran. Views are
/// dropped and recreated by whichever migration changes them. Times are integers (Unix milliseconds, UTC); the
/// views show them as ISO-8601 text.
public enum Schema {
    /// `PRAGMA application_id`: "TWKR", so `file(1)` can tell a ToolWorker database.
    public static let applicationID: Int32 = 0x5457_4B52

    public static let migrations: [String] = [v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12]

    /// The current schema version (`PRAGMA user_version` after every migration).
    public static var version: Int { migrations.count }

    static let utc = "strftime('%Y-%m-%dT%H:%M:%fZ', %@ / 1000.0, 'unixepoch')"
    static func iso(_ column: String) -> String { utc.replacingOccurrences(of: "%@", with: column) }

    static let v1 = """
        CREATE TABLE jobs (
            id            INTEGER PRIMARY KEY,
            assistant_id  TEXT    NOT NULL,
            thread_id     TEXT,
            message       TEXT,
            instructions  TEXT,
            metadata      TEXT    CHECK (metadata IS NULL OR json_valid(metadata)),
            state         TEXT    NOT NULL DEFAULT 'queued'
                          CHECK (state IN ('queued','running','succeeded','failed','cancelled')),
            attempts      INTEGER NOT NULL DEFAULT 0,
            max_attempts  INTEGER NOT NULL DEFAULT 3,
            not_before    INTEGER NOT NULL DEFAULT 0,
            last_error    TEXT,
            created_at    INTEGER NOT NULL,
            updated_at    INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX jobs_state ON jobs(state, not_before, id);

        CREATE TABLE runs (
            id                  INTEGER PRIMARY KEY,
            run_id              TEXT    UNIQUE,
            thread_id           TEXT,
            assistant_id        TEXT    NOT NULL,
            job_id              INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
            status              TEXT    NOT NULL DEFAULT 'starting',
            rounds              INTEGER NOT NULL DEFAULT 0,
            request             TEXT    CHECK (request IS NULL OR json_valid(request)),
            last_error          TEXT    CHECK (last_error IS NULL OR json_valid(last_error)),
            incomplete_details  TEXT    CHECK (incomplete_details IS NULL OR json_valid(incomplete_details)),
            usage               TEXT    CHECK (usage IS NULL OR json_valid(usage)),
            snapshot            TEXT    CHECK (snapshot IS NULL OR json_valid(snapshot)),
            expires_at          INTEGER,
            created_at          INTEGER NOT NULL,
            updated_at          INTEGER NOT NULL,
            ended_at            INTEGER
        ) STRICT;
        CREATE INDEX runs_created ON runs(created_at);
        CREATE INDEX runs_open ON runs(ended_at) WHERE ended_at IS NULL;
        CREATE INDEX runs_job ON runs(job_id);

        CREATE TABLE events (
            id           INTEGER PRIMARY KEY,
            run          INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            seq          INTEGER NOT NULL,
            stream       INTEGER NOT NULL,
            name         TEXT    NOT NULL,
            kind         TEXT    NOT NULL CHECK (kind IN ('event','unknown','malformed','error','done','note')),
            data         TEXT    NOT NULL,
            byte_offset  INTEGER,
            error        TEXT,
            received_at  INTEGER NOT NULL,
            UNIQUE (run, seq)
        ) STRICT;

        CREATE TABLE snapshots (
            id           INTEGER PRIMARY KEY,
            run          INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            event_seq    INTEGER,
            object_type  TEXT    NOT NULL CHECK (object_type IN ('run','message','run_step','tool_call')),
            object_id    TEXT    NOT NULL,
            status       TEXT,
            data         TEXT    NOT NULL,
            taken_at     INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX snapshots_object ON snapshots(object_type, object_id, id);
        CREATE INDEX snapshots_run ON snapshots(run, id);

        CREATE TABLE tool_calls (
            id                INTEGER PRIMARY KEY,
            run               INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            call_id           TEXT    NOT NULL,
            round             INTEGER NOT NULL,
            tool              TEXT    NOT NULL,
            arguments         TEXT    NOT NULL,
            handler           TEXT,
            state             TEXT    NOT NULL DEFAULT 'pending'
                              CHECK (state IN ('pending','running','succeeded','failed','timed_out','interrupted')),
            error             TEXT,
            output            TEXT,
            output_truncated  INTEGER NOT NULL DEFAULT 0 CHECK (output_truncated IN (0,1)),
            exit_code         INTEGER,
            signal            INTEGER,
            stderr_tail       TEXT,
            attempts          INTEGER NOT NULL DEFAULT 0,
            started_at        INTEGER,
            finished_at       INTEGER,
            submitted_at      INTEGER,
            UNIQUE (run, call_id)
        ) STRICT;
        CREATE INDEX tool_calls_tool ON tool_calls(tool, started_at);

        CREATE VIEW run_history AS
        SELECT r.run_id, r.thread_id, r.assistant_id, r.job_id, r.status,
               \(iso("r.created_at")) AS created,
               \(iso("r.ended_at")) AS ended,
               round((coalesce(r.ended_at, CAST(strftime('%s','now') AS INTEGER) * 1000) - r.created_at) / 1000.0, 3) AS duration_s,
               r.rounds,
               (SELECT count(*) FROM tool_calls t WHERE t.run = r.id) AS tool_calls,
               (SELECT count(*) FROM tool_calls t WHERE t.run = r.id AND t.state <> 'succeeded') AS tool_errors,
               json_extract(r.last_error, '$.code') AS error_code,
               json_extract(r.last_error, '$.message') AS error_message,
               json_extract(r.incomplete_details, '$.reason') AS incomplete_reason,
               json_extract(r.usage, '$.total_tokens') AS total_tokens,
               r.id AS run_key
        FROM runs r;

        CREATE VIEW tool_call_log AS
        SELECT r.run_id, t.call_id, t.round, t.tool, t.state, t.error, t.exit_code, t.signal,
               t.finished_at - t.started_at AS duration_ms,
               \(iso("t.started_at")) AS started,
               \(iso("t.submitted_at")) AS submitted,
               t.output_truncated, t.arguments, t.output, t.stderr_tail, t.handler, t.attempts,
               r.id AS run_key
        FROM tool_calls t JOIN runs r ON r.id = t.run;

        CREATE VIEW event_log AS
        SELECT r.run_id, e.seq, e.stream, e.name AS event, e.kind,
               \(iso("e.received_at")) AS received, e.byte_offset, e.error, e.data,
               r.id AS run_key
        FROM events e JOIN runs r ON r.id = e.run;

        \(JournalViews.snapshotLog(iso: iso))
        """

    /// v2: how ToolWorker learned that the server took an output (`submit`: it answered the submit request;
    /// `reconcile`: after a restart, the run's steps carried it). `tool_call_log` shows it as its last column.
    static let v2 = """
        ALTER TABLE tool_calls ADD COLUMN submitted_via TEXT CHECK (submitted_via IN ('submit','reconcile'));
        UPDATE tool_calls SET submitted_via = 'submit' WHERE submitted_at IS NOT NULL;
        DROP VIEW tool_call_log;
        \(JournalViews.toolCallLog(iso: iso))
        """

    /// v3: a second protocol. Which one drives a run (`assistants`, `responses`) and with which model, for runs and
    /// queued jobs; `run_history` shows both as its last columns. Existing rows are Assistants runs.
    static let v3 = """
        ALTER TABLE runs ADD COLUMN protocol TEXT NOT NULL DEFAULT 'assistants' CHECK (protocol IN ('assistants','responses'));
        ALTER TABLE runs ADD COLUMN model TEXT;
        ALTER TABLE jobs ADD COLUMN protocol TEXT NOT NULL DEFAULT 'assistants' CHECK (protocol IN ('assistants','responses'));
        ALTER TABLE jobs ADD COLUMN model TEXT;
        DROP VIEW run_history;
        CREATE VIEW run_history AS
        SELECT r.run_id, r.thread_id, r.assistant_id, r.job_id, r.status,
               \(iso("r.created_at")) AS created,
               \(iso("r.ended_at")) AS ended,
               round((coalesce(r.ended_at, CAST(strftime('%s','now') AS INTEGER) * 1000) - r.created_at) / 1000.0, 3) AS duration_s,
               r.rounds,
               (SELECT count(*) FROM tool_calls t WHERE t.run = r.id) AS tool_calls,
               (SELECT count(*) FROM tool_calls t WHERE t.run = r.id AND t.state <> 'succeeded') AS tool_errors,
               json_extract(r.last_error, '$.code') AS error_code,
               json_extract(r.last_error, '$.message') AS error_message,
               json_extract(r.incomplete_details, '$.reason') AS incomplete_reason,
               json_extract(r.usage, '$.total_tokens') AS total_tokens,
               r.id AS run_key, r.protocol, r.model
        FROM runs r;
        """

    /// v4: leases. The daemon driving a run (or holding a claimed job) and until when, renewed by its heartbeat;
    /// with a shared PostgreSQL journal another daemon takes over a run whose lease expired. Times in the database's
    /// clock.
    static let v4 = """
        ALTER TABLE runs ADD COLUMN lease_owner TEXT;
        ALTER TABLE runs ADD COLUMN lease_expires_at INTEGER;
        ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
        ALTER TABLE jobs ADD COLUMN lease_expires_at INTEGER;
        """

    /// v5: per-job options (`jobs.options`, a JSON object: `max_rounds`), and the id of the response (or run) each
    /// stream belongs to (`events.response_id`), shown as `event_log`'s last column: a Responses tool loop is a chain
    /// of responses, and an operator selects the events of one.
    static let v5 = """
        ALTER TABLE jobs ADD COLUMN options TEXT CHECK (options IS NULL OR json_valid(options));
        ALTER TABLE events ADD COLUMN response_id TEXT;
        DROP VIEW event_log;
        \(JournalViews.eventLog(iso: iso))
        """

    /// v6: Assistants threads copied into Responses conversations (`toolworker migrate-thread`): one row per message
    /// copied (or skipped: no text, `position` NULL), and one with an empty `message_id` for the conversation made, so
    /// a copy that stopped goes on where it stopped, into the same conversation.
    static let v6 = """
        CREATE TABLE thread_migrations (
            thread_id        TEXT    NOT NULL,
            message_id       TEXT    NOT NULL,
            conversation_id  TEXT    NOT NULL,
            position         INTEGER,
            copied_at        INTEGER NOT NULL,
            PRIMARY KEY (thread_id, message_id)
        ) STRICT;
        """

    /// v7: durable approvals. A call whose tool wants a human's word waits here (`approval_log.state`
    /// `awaiting_approval`) until `toolworker approve` / `deny` decides it, from any host, once; who decided and when
    /// are kept.
    static let v7 = """
        CREATE TABLE approvals (
            id            INTEGER PRIMARY KEY,
            run           INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            call_id       TEXT    NOT NULL,
            tool          TEXT    NOT NULL,
            arguments     TEXT    NOT NULL,
            requested_at  INTEGER NOT NULL,
            decision      TEXT    CHECK (decision IN ('approved','denied','expired')),
            decided_by    TEXT,
            reason        TEXT,
            decided_at    INTEGER,
            UNIQUE (run, call_id)
        ) STRICT;
        CREATE INDEX approvals_pending ON approvals(decision) WHERE decision IS NULL;
        \(JournalViews.approvalLog(iso: iso))
        """
}

extension Schema {
    /// v8: approval requests carry the daemon's seal (a row a call planted is refused); `run_history.status` is the
    /// loop's own state (a Responses loop between rounds is `requires_action`, one waiting for a person
    /// `awaiting_approval`), the server's last status in `server_status`.
    static let v8 = """
        ALTER TABLE approvals ADD COLUMN request_seal TEXT;
        DROP VIEW run_history;
        \(JournalViews.runHistory(
            iso: iso, now: "CAST(strftime('%s','now') AS INTEGER) * 1000", json: { "json_extract(\($0), '$.\($1)')" },
            totalTokens: "json_extract(r.usage, '$.total_tokens')"))
        """
}

extension Schema {
    /// v9: a run's or job's protocol is whichever backend registered it, not a closed list: the
    /// `CHECK (protocol IN ('assistants','responses'))` of `runs` and `jobs` goes (a daemon refuses a protocol it has no
    /// backend for). SQLite cannot drop a constraint; this is its documented procedure for removing a CHECK
    /// (lang_altertable.html, "other kinds of table schema changes"): the tables' definitions are edited in
    /// `sqlite_schema`, no row is rewritten, and ``finishEditingTableDefinitions(_:)`` bumps the schema cookie so that
    /// every connection, this one included, reads the new definitions.
    static let v9 = """
        PRAGMA writable_schema = ON;
        UPDATE sqlite_schema SET sql = replace(sql, ' CHECK (protocol IN (''assistants'',''responses''))', '')
        WHERE type = 'table' AND name IN ('runs', 'jobs');
        """

    /// v10: the usage ledger. One row per model request (a run step, a response) with its tokens and, when its model
    /// has a price, its cost and the price used; views `usage_by_run` and `usage_daily`.
    static let v10 = """
        CREATE TABLE usage (
            id                   INTEGER PRIMARY KEY,
            run                  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            source               TEXT    NOT NULL,
            event_seq            INTEGER,
            model                TEXT,
            provider             TEXT    NOT NULL,
            input_tokens         INTEGER NOT NULL,
            cached_input_tokens  INTEGER NOT NULL,
            output_tokens        INTEGER NOT NULL,
            reasoning_tokens     INTEGER NOT NULL,
            tools                TEXT    NOT NULL CHECK (json_valid(tools)),
            cost                 REAL,
            currency             TEXT,
            price                TEXT    CHECK (price IS NULL OR json_valid(price)),
            recorded_at          INTEGER NOT NULL,
            UNIQUE (run, source)
        ) STRICT;
        CREATE INDEX usage_recorded ON usage(recorded_at);
        \(JournalViews.usageByRun(iso: iso))
        \(JournalViews.usageDaily(day: { "strftime('%Y-%m-%d', \($0) / 1000, 'unixepoch')" }))
        """

    /// v11: rate limits. A job whose start would wait too long for its key's rate limit is parked
    /// (`waiting_rate_limit`, added to the jobs' states by the same documented `sqlite_schema` edit as v9), and each
    /// cool-down after a 429 is kept in `rate_limits` (by base URL, key fingerprint and model), for the daemon after a
    /// restart and, on PostgreSQL, for the whole fleet.
    static let v11 = """
        PRAGMA writable_schema = ON;
        UPDATE sqlite_schema SET sql = replace(sql,
            'CHECK (state IN (''queued'',''running'',''succeeded'',''failed'',''cancelled''))',
            'CHECK (state IN (''queued'',''running'',''succeeded'',''failed'',''cancelled'',''waiting_rate_limit''))')
        WHERE type = 'table' AND name = 'jobs';
        CREATE TABLE rate_limits (
            scope           TEXT    PRIMARY KEY,
            cooldown_until  INTEGER NOT NULL,
            reason          TEXT    NOT NULL,
            updated_at      INTEGER NOT NULL
        ) STRICT;
        """

    /// v12: daily budgets per provider and the fleet's request windows. Before each request a loop reserves its
    /// estimated tokens of its provider's day in `budget_reservations` (one row per provider and run), so the daemons
    /// sharing a journal count each other's requests in flight, not only the usage already reported; `rate_windows`
    /// counts a configured `requests_per_minute` for the whole fleet.
    static let v12 = """
        CREATE TABLE budget_reservations (
            provider    TEXT    NOT NULL,
            run         INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            day         TEXT    NOT NULL,
            tokens      INTEGER NOT NULL,
            usage_seen  INTEGER NOT NULL,
            created_at  INTEGER NOT NULL,
            PRIMARY KEY (provider, run)
        ) STRICT;
        CREATE INDEX usage_provider_day ON usage(provider, recorded_at);
        CREATE TABLE rate_windows (
            scope         TEXT    PRIMARY KEY,
            window_start  INTEGER NOT NULL,
            taken         INTEGER NOT NULL
        ) STRICT;
        """

    /// The versions whose migration edits table definitions in `sqlite_schema` (then
    /// ``finishEditingTableDefinitions(_:)`` runs in the same transaction).
    static let editsTableDefinitions: Set<Int> = [9, 11]

    /// Ends an edit of `sqlite_schema`: bumps the schema cookie (every connection reparses the schema), turns schema
    /// editing off, and checks the database.
    static func finishEditingTableDefinitions(_ connection: SQLiteConnection) throws {
        let cookie = try connection.scalar("PRAGMA schema_version").int ?? 0
        try connection.executeScript("PRAGMA schema_version = \(cookie + 1); PRAGMA writable_schema = OFF;")
        let check = try connection.scalar("PRAGMA quick_check").text
        guard check == "ok" else { throw StoreCompatibilityError(path: connection.location, reason: "schema edit left the database inconsistent: \(check ?? "?")") }
    }
}

/// Every view as it stands now, one definition each for SQLite's migrations and PostgreSQL's: their text is the same
/// in both dialects but for the expressions passed in (timestamps as ISO text, JSON members, the time now).
public enum JournalViews {
    /// `event_log` with `response_id` (SQLite v5, PostgreSQL v2).
    public static func eventLog(iso: (String) -> String) -> String {
        """
        CREATE VIEW event_log AS
        SELECT r.run_id, e.seq, e.stream, e.name AS event, e.kind,
               \(iso("e.received_at")) AS received, e.byte_offset, e.error, e.data,
               r.id AS run_key, e.response_id
        FROM events e JOIN runs r ON r.id = e.run;
        """
    }

    /// `run_history` with the loop's own state as `status` and the server's as `server_status` (SQLite v8,
    /// PostgreSQL v5). `json` extracts a member of a JSON text column as text; `now` is the time in milliseconds.
    public static func runHistory(iso: (String) -> String, now: String, json: (String, String) -> String, totalTokens: String) -> String {
        """
        CREATE VIEW run_history AS
        SELECT r.run_id, r.thread_id, r.assistant_id, r.job_id,
               CASE WHEN r.ended_at IS NULL AND EXISTS (SELECT 1 FROM approvals a WHERE a.run = r.id AND a.decision IS NULL)
                        THEN 'awaiting_approval'
                    WHEN r.ended_at IS NULL AND r.status = 'completed' THEN 'requires_action'
                    ELSE r.status END AS status,
               \(iso("r.created_at")) AS created,
               \(iso("r.ended_at")) AS ended,
               round((coalesce(r.ended_at, \(now)) - r.created_at) / 1000.0, 3) AS duration_s,
               r.rounds,
               (SELECT count(*) FROM tool_calls t WHERE t.run = r.id) AS tool_calls,
               (SELECT count(*) FROM tool_calls t WHERE t.run = r.id AND t.state <> 'succeeded') AS tool_errors,
               \(json("r.last_error", "code")) AS error_code,
               \(json("r.last_error", "message")) AS error_message,
               \(json("r.incomplete_details", "reason")) AS incomplete_reason,
               \(totalTokens) AS total_tokens,
               r.id AS run_key, r.protocol, r.model, r.status AS server_status
        FROM runs r;
        """
    }

    /// `tool_call_log` with `submitted_via` (SQLite v2, PostgreSQL v1).
    public static func toolCallLog(iso: (String) -> String) -> String {
        """
        CREATE VIEW tool_call_log AS
        SELECT r.run_id, t.call_id, t.round, t.tool, t.state, t.error, t.exit_code, t.signal,
               t.finished_at - t.started_at AS duration_ms,
               \(iso("t.started_at")) AS started,
               \(iso("t.submitted_at")) AS submitted,
               t.output_truncated, t.arguments, t.output, t.stderr_tail, t.handler, t.attempts,
               r.id AS run_key, t.submitted_via
        FROM tool_calls t JOIN runs r ON r.id = t.run;
        """
    }

    /// `snapshot_log` (SQLite v1, PostgreSQL v1).
    public static func snapshotLog(iso: (String) -> String) -> String {
        """
        CREATE VIEW snapshot_log AS
        SELECT r.run_id, s.object_type, s.object_id, s.status, s.event_seq,
               \(iso("s.taken_at")) AS taken,
               (s.id = (SELECT max(s2.id) FROM snapshots s2
                        WHERE s2.object_type = s.object_type AND s2.object_id = s.object_id)) AS is_latest,
               s.data, r.id AS run_key, s.id AS snapshot_id
        FROM snapshots s JOIN runs r ON r.id = s.run;
        """
    }

    /// `usage_by_run` (SQLite v10, PostgreSQL v7): a run's requests and their tokens and cost. `cost` sums the priced
    /// requests; `unpriced_requests` counts the others.
    public static func usageByRun(iso: (String) -> String) -> String {
        """
        CREATE VIEW usage_by_run AS
        SELECT r.run_id, r.id AS run_key, r.protocol, r.thread_id, r.job_id, r.assistant_id,
               coalesce(max(u.model), r.model) AS model, max(u.provider) AS provider,
               count(*) AS requests,
               sum(u.input_tokens) AS input_tokens, sum(u.cached_input_tokens) AS cached_input_tokens,
               sum(u.output_tokens) AS output_tokens, sum(u.reasoning_tokens) AS reasoning_tokens,
               sum(u.input_tokens + u.output_tokens) AS total_tokens,
               sum(u.cost) AS cost, max(u.currency) AS currency,
               sum(CASE WHEN u.cost IS NULL THEN 1 ELSE 0 END) AS unpriced_requests,
               \(iso("min(u.recorded_at)")) AS first_request,
               \(iso("max(u.recorded_at)")) AS last_request
        FROM usage u JOIN runs r ON r.id = u.run
        GROUP BY r.id;
        """
    }

    /// `usage_daily` (SQLite v10, PostgreSQL v7): requests, tokens and cost per UTC day, provider, model and currency.
    /// `day` turns a time in milliseconds into `YYYY-MM-DD`.
    public static func usageDaily(day: (String) -> String) -> String {
        """
        CREATE VIEW usage_daily AS
        SELECT \(day("u.recorded_at")) AS day, u.provider, u.model, u.currency,
               count(*) AS requests,
               sum(u.input_tokens) AS input_tokens, sum(u.cached_input_tokens) AS cached_input_tokens,
               sum(u.output_tokens) AS output_tokens, sum(u.reasoning_tokens) AS reasoning_tokens,
               sum(u.input_tokens + u.output_tokens) AS total_tokens,
               sum(u.cost) AS cost,
               sum(CASE WHEN u.cost IS NULL THEN 1 ELSE 0 END) AS unpriced_requests
        FROM usage u
        GROUP BY 1, 2, 3, 4;
        """
    }

    /// `approval_log` (SQLite v7, PostgreSQL v4).
    public static func approvalLog(iso: (String) -> String) -> String {
        """
        CREATE VIEW approval_log AS
        SELECT r.run_id, a.call_id, a.tool, coalesce(a.decision, 'awaiting_approval') AS state, a.decided_by, a.reason,
               \(iso("a.requested_at")) AS requested,
               \(iso("a.decided_at")) AS decided,
               a.decided_at - a.requested_at AS wait_ms, a.arguments, r.id AS run_key
        FROM approvals a JOIN runs r ON r.id = a.run;
        """
    }
}
