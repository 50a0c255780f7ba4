import CSQLite
import Foundation
import Testing
import Synchronization
@testable import AssistantsAPI
@testable import OpenAIClient
@testable import AssistantsBackend
@testable import HTTPTransport
@testable import Journal
import RunLoopCore
@testable import Worker

@Suite("Audit store on real SQLite files")
struct AuditStoreTests {
    @Test("migrates from empty and from every earlier version; reopening changes nothing")
    func migrations() async throws {
        for startVersion in 0..<Schema.version {
            let dir = TempDirectory()
            let path = dir.path("audit.db")
            do {
                let raw = try SQLiteConnection(path: path)
                for migration in Schema.migrations.prefix(startVersion) { try raw.executeScript(migration) }
                if startVersion > 0 {
                    try raw.executeScript("PRAGMA user_version=\(startVersion); PRAGMA application_id=\(Schema.applicationID)")
                }
            }
            let store = try AuditStore(path: path)
            let (version, appID, mode, fk) = try await store.write { db in
                (try db.scalar("PRAGMA user_version").int, try db.scalar("PRAGMA application_id").int,
                 try db.scalar("PRAGMA journal_mode").text, try db.scalar("PRAGMA foreign_keys").int)
            }
            #expect(version == Int64(Schema.version))
            #expect(appID == Int64(Schema.applicationID))
            #expect(mode == "wal")
            #expect(fk == 1)
            let views = try await store.read { db in
                try db.query("SELECT name FROM sqlite_schema WHERE type = 'view' ORDER BY name").compactMap { $0["name"].text }
            }
            #expect(views == ["approval_log", "event_log", "run_history", "snapshot_log", "tool_call_log", "usage_by_run", "usage_daily"])
            store.close()
            let again = try AuditStore(path: path)
            #expect(try await again.read { try $0.scalar("PRAGMA user_version").int } == Int64(Schema.version))
            again.close()
        }
    }

    @Test("v9 drops the closed protocol list: a v8 journal keeps its rows, then takes a protocol no CHECK names, on every connection")
    func protocolCheckDropped() async throws {
        let dir = TempDirectory()
        let path = dir.path("audit.db")
        do {
            let raw = try SQLiteConnection(path: path)
            for migration in Schema.migrations.prefix(8) { try raw.executeScript(migration) }
            try raw.executeScript("PRAGMA user_version=8; PRAGMA application_id=\(Schema.applicationID)")
            try raw.executeScript(
                "INSERT INTO jobs (assistant_id, created_at, updated_at, protocol) VALUES ('asst_old', 1, 1, 'responses')")
            #expect(throws: SQLiteError.self, "v8 still refuses it") {
                try raw.executeScript("INSERT INTO jobs (assistant_id, created_at, updated_at, protocol) VALUES ('a', 1, 1, 'third')")
            }
        }
        let store = try AuditStore(path: path)
        defer { store.close() }
        let job = try await store.enqueueJob(
            assistantID: "", threadID: nil, message: "go", instructions: nil, metadata: nil, protocolName: "third")
        #expect(try await store.job(id: job)?.protocolName == "third", "the reader connection sees the new definition too")
        let run = try await store.createRun(assistantID: "", threadID: nil, jobID: job, request: [:], protocolName: "third")
        #expect(try await store.run(key: run)?.protocolName == "third")
        let old = try await store.read { db in try db.query("SELECT assistant_id, protocol FROM jobs WHERE id = 1") }
        #expect(old.first?["assistant_id"].text == "asst_old" && old.first?["protocol"].text == "responses")
        let definitions = try await store.read { db in
            try db.query("SELECT sql FROM sqlite_schema WHERE name IN ('runs', 'jobs')").compactMap { $0["sql"].text }
        }
        #expect(definitions.count == 2 && definitions.allSatisfy { !$0.contains("protocol IN") && $0.contains("protocol TEXT NOT NULL") })
        #expect(try await store.read { db in try db.scalar("PRAGMA integrity_check").text } == "ok")
        // A new connection (another process) reads the edited definitions.
        let other = try SQLiteConnection(path: path)
        try other.executeScript("INSERT INTO jobs (assistant_id, created_at, updated_at, protocol) VALUES ('b', 2, 2, 'fourth')")
        #expect(try other.scalar("SELECT count(*) FROM jobs").int == 3)
    }

    @Test("a database from a newer version, or not ours, is refused with a clear message")
    func refusesForeignOrNewer() async throws {
        let dir = TempDirectory()
        let newer = dir.path("newer.db")
        try AuditStore(path: newer).close()
        try SQLiteConnection(path: newer).executeScript("PRAGMA user_version=99")
        #expect {
            try AuditStore(path: newer)
        } throws: { error in
            (error as? StoreCompatibilityError)?.reason.contains("newer ToolWorker") == true
        }
        let foreign = dir.path("foreign.db")
        try SQLiteConnection(path: foreign).executeScript("CREATE TABLE t(x); PRAGMA application_id=42")
        #expect {
            try AuditStore(path: foreign)
        } throws: { error in
            (error as? StoreCompatibilityError)?.reason.contains("not a ToolWorker database") == true
        }
    }

    @Test("a store dropped without close() commits its queued writes and closes its connections")
    func droppedStore() async throws {
        let dir = TempDirectory()
        let path = dir.path("dropped.db")
        do {
            let store = try AuditStore(path: path)
            let job = try await store.enqueueJob(assistantID: "asst", threadID: nil, message: "first", instructions: nil, metadata: nil)
            #expect(job == 1)
            #expect(openDescriptors(startingWith: path) >= 2, "the store's connections are open")
            store.writer.enqueue { db in
                try db.execute("UPDATE jobs SET message = 'queued, never awaited' WHERE id = 1")
            }
        }
        #expect(openDescriptors(startingWith: path) == 0, "dropping the store closed its connections")
        let reader = try SQLiteConnection(path: path, readOnly: true)
        #expect(try reader.query("SELECT message FROM jobs WHERE id = 1").first?["message"].text == "queued, never awaited")
    }

    @Test("the writer syncs every commit (synchronous=FULL) unless the store is opened with normal durability")
    func durability() async throws {
        let dir = TempDirectory()
        let full = try AuditStore(path: dir.path("full.db"))
        defer { full.close() }
        #expect(try await full.write { db in try db.scalar("PRAGMA synchronous").int } == 2)
        let normal = try AuditStore(path: dir.path("normal.db"), durability: .normal)
        defer { normal.close() }
        #expect(try await normal.write { db in try db.scalar("PRAGMA synchronous").int } == 1)
        let key = try await normal.createRun(assistantID: "a", threadID: nil, jobID: nil, request: [:])
        #expect(try await normal.run(key: key) != nil, "it journals as the other")
    }

    @Test("the log is checkpointed on a connection of its own, not in the writer's commits; a dropped store closes it too")
    func checkpointsOffTheCommitPath() async throws {
        let dir = TempDirectory()
        let path = dir.path("wal.db")
        do {
            let store = try AuditStore(path: path)
            #expect(try await store.write { db in try db.scalar("PRAGMA wal_autocheckpoint").int } == 0, "the writer never checkpoints")
            let key = try await store.createRun(assistantID: "a", threadID: nil, jobID: nil, request: [:])
            let big = String(repeating: "x", count: 4096)
            for batch in 0..<10 {
                let events = (0..<200).map { i in
                    EventRecord(seq: batch * 200 + i + 1, stream: 1, name: "e", kind: .unknown, data: big, byteOffset: 0, error: nil, receivedAt: 0)
                }
                store.enqueueProgress(runKey: key, events: events, snapshots: [], run: nil)
                try await store.flush()
            }
            // 8 MB went through the log: the checkpointer copied it into the database file (which stays at its
            // first pages when nobody checkpoints).
            try await waitFor("the database file to take the log's pages") {
                ((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0) > 4_000_000
            }
            #expect(try await store.read { db in try db.scalar("SELECT count(*) FROM events").int } == 2000)
            #expect(openDescriptors(startingWith: path) >= 3, "writer, reader and checkpointer")
        }
        #expect(openDescriptors(startingWith: path) == 0, "dropping the store closed the checkpointer's connection too")
    }

    @Test("a store whose last reference goes away on its own writer thread closes without waiting for itself")
    func droppedOnWriterThread() async throws {
        let dir = TempDirectory()
        let path = dir.path("self.db")
        let gate = DispatchSemaphore(value: 0)
        do {
            let store = try AuditStore(path: path)
            _ = try await store.enqueueJob(assistantID: "asst", threadID: nil, message: "first", instructions: nil, metadata: nil)
            // The piece holds the store: once it has run, the writer thread drops the last reference.
            store.writer.enqueue { db in
                gate.wait()
                _ = store.path
                try db.execute("UPDATE jobs SET message = 'written by the last holder' WHERE id = 1")
            }
        }
        gate.signal()
        try await waitFor("the store to close on its writer thread") { openDescriptors(startingWith: path) == 0 }
        let reader = try SQLiteConnection(path: path, readOnly: true)
        #expect(try reader.query("SELECT message FROM jobs WHERE id = 1").first?["message"].text == "written by the last holder")
    }

    @Test("a reader holding a read transaction does not block the writer, and sees a stable snapshot")
    func readerDoesNotBlockWriter() async throws {
        let dir = TempDirectory()
        let path = dir.path("audit.db")
        let store = try AuditStore(path: path)
        defer { store.close() }
        let runKey = try await store.createRun(assistantID: "a", threadID: nil, jobID: nil, request: [:])
        let reader = try SQLiteConnection(path: path, readOnly: true)
        try reader.executeScript("BEGIN")
        #expect(try reader.scalar("SELECT count(*) FROM events").int == 0)
        var recorder = StreamRecorder(journal: store, runKey: runKey)
        for i in 0..<100 {
            recorder.record(LoopEvent(name: "x.\(i)", kind: .unknown, data: "{}", byteOffset: i), stream: 1)
        }
        try await recorder.flush()
        #expect(try reader.scalar("SELECT count(*) FROM events").int == 0, "the open read transaction keeps its snapshot")
        try reader.executeScript("COMMIT")
        #expect(try reader.scalar("SELECT count(*) FROM events").int == 100)
    }

    @Test("the sqlite3 CLI reading in a child process does not block the writer")
    func cliReader() async throws {
        let dir = TempDirectory()
        let path = dir.path("audit.db")
        let store = try AuditStore(path: path)
        defer { store.close() }
        let runKey = try await store.createRun(assistantID: "a", threadID: nil, jobID: nil, request: [:])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = ["-readonly", path]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        try input.fileHandleForWriting.write(contentsOf: Data("BEGIN;\nSELECT 'before', count(*) FROM events;\n".utf8))
        try await Task.sleep(for: .milliseconds(200))
        var recorder = StreamRecorder(journal: store, runKey: runKey)
        for i in 0..<50 {
            recorder.record(LoopEvent(name: "x", kind: .unknown, data: "{}", byteOffset: i), stream: 1)
        }
        try await recorder.flush()  // would time out (busy) if the CLI blocked the writer
        try input.fileHandleForWriting.write(contentsOf: Data("SELECT 'inside', count(*) FROM events;\nCOMMIT;\nSELECT 'after', count(*) FROM events;\n.quit\n".utf8))
        try input.fileHandleForWriting.close()
        let text = String(decoding: readAll(output.fileHandleForReading), as: UTF8.self)
        await waitForExit(process)
        #expect(text.split(separator: "\n") == ["before|0", "inside|0", "after|50"])
    }

    @Test("after SIGKILL mid-write, every acknowledged event is there and the file is intact")
    func crashSafety() async throws {
        let dir = TempDirectory()
        let path = dir.path("audit.db")
        for round in 0..<3 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: builtProduct("toolworker-test-helper"))
            process.arguments = ["crash-writer", path]
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            var lastAcked = 0
            var runKey: Int64 = 0
            var buffer = ""
            let target = 200 + round * 137
            while lastAcked < target {
                let data = readSome(output.fileHandleForReading)
                if data.isEmpty { break }
                buffer += String(decoding: data, as: UTF8.self)
                while let newline = buffer.firstIndex(of: "\n") {
                    let line = buffer[..<newline]
                    if line.hasPrefix("acked ") { lastAcked = Int(line.dropFirst(6)) ?? lastAcked }
                    if line.hasPrefix("run ") { runKey = Int64(line.dropFirst(4)) ?? 0 }
                    buffer.removeSubrange(...newline)
                }
            }
            kill(process.processIdentifier, SIGKILL)
            await waitForExit(process)
            #expect(process.terminationReason == .uncaughtSignal)
            #expect(lastAcked >= target)
            let check = try SQLiteConnection(path: path)
            #expect(try check.scalar("PRAGMA integrity_check").text == "ok")
            let stored = try check.query("SELECT seq FROM events WHERE run = ? ORDER BY seq", [.integer(runKey)]).compactMap { $0["seq"].int }
            #expect(stored.count >= lastAcked, "acked \(lastAcked), found \(stored.count)")
            #expect(Array(stored.prefix(lastAcked)) == (1...lastAcked).map(Int64.init), "no gap among acknowledged events")
        }
    }

    @Test("a full disk fails the write clearly and leaves no half-written run")
    func diskFull() async throws {
        let dir = TempDirectory()
        let store = try AuditStore(path: dir.path("audit.db"))
        defer { store.close() }
        let runKey = try await store.createRun(assistantID: "a", threadID: nil, jobID: nil, request: [:])
        let pages = try await store.write { db in try db.scalar("PRAGMA page_count").int ?? 0 }
        try await store.write { db in try db.execute("PRAGMA max_page_count = \(pages + 2)") }
        let big = String(repeating: "x", count: 64 * 1024)
        let events = (1...20).map { i in
            EventRecord(seq: i, stream: 1, name: "e", kind: .unknown, data: big, byteOffset: 0, error: nil, receivedAt: 0)
        }
        store.enqueueProgress(runKey: runKey, events: events, snapshots: [], run: nil)
        do {
            try await store.flush()
            Issue.record("expected SQLITE_FULL")
        } catch let error as SQLiteError {
            #expect(error.isFull, "\(error)")
            #expect(error.description.contains("full"))
        }
        try await store.write { db in try db.execute("PRAGMA max_page_count = 1073741823") }
        let count = try await store.read { db in try db.scalar("SELECT count(*) FROM events").int }
        #expect(count == 0, "the failed piece is rolled back whole")
        // The store goes on working once space is back.
        store.enqueueProgress(runKey: runKey, events: Array(events.prefix(2)), snapshots: [], run: nil)
        try await store.flush()
        #expect(try await store.read { db in try db.scalar("SELECT count(*) FROM events").int } == 2)
    }

    @Test("a database locked by another writer gives SQLITE_BUSY after the busy time-out, then recovers")
    func locked() async throws {
        let dir = TempDirectory()
        let path = dir.path("audit.db")
        let store = try AuditStore(path: path, busyTimeout: .milliseconds(200))
        defer { store.close() }
        let other = try SQLiteConnection(path: path)
        try other.executeScript("BEGIN IMMEDIATE")
        let start = ContinuousClock.now
        do {
            _ = try await store.createRun(assistantID: "a", threadID: nil, jobID: nil, request: [:])
            Issue.record("expected SQLITE_BUSY")
        } catch let error as SQLiteError {
            #expect(error.isBusy, "\(error)")
        }
        #expect(ContinuousClock.now - start >= .milliseconds(150))
        try other.executeScript("ROLLBACK")
        let key = try await store.createRun(assistantID: "a", threadID: nil, jobID: nil, request: [:])
        #expect(key > 0)
    }

    @Test("a round recorded without its own commit is answered once it ran, committed with the outcome that follows; its failure is its caller's, and the store goes on")
    func recordRoundUncommitted() async throws {
        let dir = TempDirectory()
        let store = try AuditStore(path: dir.path("audit.db"))
        defer { store.close() }
        let key = try await store.createRun(assistantID: "a", threadID: "t", jobID: nil, request: [:])
        let calls = [(ToolCall(id: "call_a", name: "t", arguments: "{}"), "h")]
        let round = try await store.recordRound(runKey: key, calls: calls, durable: false) { _ in
            AuditStore.RoundDecision(round: 1, isNew: true, startingNow: ["call_a"])
        }
        #expect(round.decision.startingNow == ["call_a"])
        try await store.recordToolCallOutcome(
            runKey: key, callID: "call_a", outcome: ToolCallOutcome(state: .succeeded, output: "done", startedAt: 1, finishedAt: 2))
        // Durable now, both: another connection (another process) sees the round and its outcome.
        let other = try SQLiteConnection(path: dir.path("audit.db"), readOnly: true)
        let rows = try other.query("SELECT state, output, attempts FROM tool_calls WHERE run = ?", [.integer(key)])
        #expect(rows.map { $0["state"].text } == ["succeeded"] && rows.first?["output"].text == "done" && rows.first?["attempts"].int == 1)
        #expect(try other.scalar("SELECT rounds FROM runs WHERE id = ?", [.integer(key)]).int == 1)
        // A round for a run the journal does not hold breaks a foreign key: the caller gets the error, nothing is kept.
        await #expect(throws: SQLiteError.self) {
            _ = try await store.recordRound(runKey: 999_999, calls: calls, durable: false) { _ in
                AuditStore.RoundDecision(round: 1, isNew: true, startingNow: ["call_a"])
            }
        }
        let next = try await store.createRun(assistantID: "b", threadID: nil, jobID: nil, request: [:])
        #expect(next > key, "the store goes on: no error left behind for the next write")
        #expect(try other.scalar("SELECT count(*) FROM tool_calls WHERE run = 999999").int == 0)
    }

    @Test("a round is read, decided and recorded in one transaction; the same calls again are no new round")
    func recordRound() async throws {
        let dir = TempDirectory()
        let store = try AuditStore(path: dir.path("audit.db"))
        defer { store.close() }
        let key = try await store.createRun(assistantID: "a", threadID: "t", jobID: nil, request: [:])
        let calls = [(ToolCall(id: "call_a", name: "t", arguments: "{}"), "h"), (ToolCall(id: "call_b", name: "t", arguments: "{}"), nil)]
        let first = try await store.recordRound(runKey: key, calls: calls) { known in
            #expect(known.isEmpty)
            return AuditStore.RoundDecision(round: 1, isNew: true, startingNow: ["call_a"])
        }
        #expect(first.known.isEmpty && first.decision.round == 1)
        // As after a crash: the same calls come back; the journal knows them, one of them running.
        let second = try await store.recordRound(runKey: key, calls: calls) { known in
            #expect(known["call_a"]?.state == .running && known["call_a"]?.attempts == 1)
            #expect(known["call_b"]?.state == .pending)
            return AuditStore.RoundDecision(round: known["call_a"]?.round ?? 0, isNew: false, startingNow: ["call_b"])
        }
        #expect(second.known.count == 2)
        let rows = try await store.read { db in try db.query("SELECT call_id, state, attempts, round FROM tool_calls ORDER BY id", []) }
        #expect(rows.map { $0["state"].text } == ["running", "running"])
        #expect(rows.map { $0["attempts"].int } == [1, 1])
        #expect(rows.map { $0["round"].int } == [1, 1])
        #expect(try await store.run(key: key)?.rounds == 1)
    }

    @Test("work nobody awaits is committed on its own after the commit delay, and a failing piece fails alone")
    func heldTransaction() async throws {
        let dir = TempDirectory()
        let store = try AuditStore(path: dir.path("audit.db"))
        defer { store.close() }
        let key = try await store.createRun(assistantID: "a", threadID: "t", jobID: nil, request: [:])
        store.enqueue { db in try db.execute("UPDATE runs SET status = 'in_progress' WHERE id = ?", [.integer(key)]) }
        // No awaited write follows: the row still becomes visible to the reader (committed once the delay passed).
        while try await store.run(key: key)?.status != "in_progress" { try await Task.sleep(for: .milliseconds(5)) }
        // Pieces nobody awaits around a failing one (likely one held transaction): the failure is reported once, by
        // the next awaited call, and the pieces around it are committed.
        store.enqueue { db in try db.execute("UPDATE runs SET thread_id = 'before' WHERE id = ?", [.integer(key)]) }
        store.enqueue { db in try db.execute("INSERT INTO no_such_table VALUES (1)", []) }
        store.enqueue { db in try db.execute("UPDATE runs SET status = 'queued' WHERE id = ?", [.integer(key)]) }
        await #expect(throws: (any Error).self) { try await store.flush() }
        try await store.flush()
        let run = try await store.run(key: key)
        #expect(run?.threadID == "before" && run?.status == "queued")
    }

    @Test("prune deletes finished old runs with everything under them and keeps the rest")
    func prune() async throws {
        let dir = TempDirectory()
        let store = try AuditStore(path: dir.path("audit.db"))
        defer { store.close() }
        var keys: [Int64] = []
        for i in 0..<120 {
            let key = try await store.createRun(assistantID: "a", threadID: "t\(i)", jobID: nil, request: [:])
            keys.append(key)
            var recorder = StreamRecorder(journal: store, runKey: key)
            recorder.record(LoopEvent(name: "x", kind: .unknown, data: "{}", byteOffset: 0), stream: 1)
            try await recorder.flush()
            try await store.recordToolCalls(runKey: key, round: 1, calls: [(ToolCall(id: "call_\(i)", name: "t", arguments: "{}"), nil)])
            if i < 100 { try await store.endRun(runKey: key, status: .completed, lastError: nil) }
        }
        let future = unixMilliseconds() + 1000
        let result = try await store.prune(endedBefore: future, batchSize: 7)
        #expect(result.runs == 100)
        let (runs, events, calls, integrity) = try await store.read { db in
            (try db.scalar("SELECT count(*) FROM runs").int, try db.scalar("SELECT count(*) FROM events").int,
             try db.scalar("SELECT count(*) FROM tool_calls").int, try db.scalar("PRAGMA integrity_check").text)
        }
        #expect(runs == 20)
        #expect(events == 20)
        #expect(calls == 20)
        #expect(integrity == "ok")
    }

    @Test("a read-only database file is refused at open with SQLITE_READONLY, not half-used",
          .enabled(if: getuid() == 0, "needs root for chattr +i (root ignores file modes)"))
    func readOnlyFile() async throws {
        let dir = TempDirectory()
        let path = dir.path("audit.db")
        try AuditStore(path: path).close()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chattr") else { return }
        let immutable = try await runCommand("/usr/bin/chattr", ["+i", path])
        // tmpfs and some overlay file systems have no immutable flag: nothing to test there.
        guard immutable.status == 0 else { return }
        defer { _ = try? runCommandBlocking("/usr/bin/chattr", ["-i", path]) }
        #expect {
            try AuditStore(path: path)
        } throws: { error in
            guard let error = error as? SQLiteError else { return false }
            return error.isReadOnly && error.description.contains("readonly")
        }
    }
}

@Suite("Journal writer backpressure")
struct JournalBackpressureTests {
    /// A writer stuck in a piece with more rows queued than its bound holds `waitForRoom()` back until it has caught
    /// up; with room to spare it returns at once.
    @Test("waitForRoom waits while the queue is over its bound, and only then")
    func waitsForRoom() async throws {
        let dir = TempDirectory()
        let path = dir.path("audit.db")
        let worker = try JournalWorker(name: "test-writer", groupCommit: true, maxQueued: 4) { try SQLiteConnection(path: path) }
        defer { worker.close() }
        await worker.waitForRoom()  // empty: returns at once
        let release = DispatchSemaphore(value: 0)
        let inBody = DispatchSemaphore(value: 0)
        let log = Mutex<[String]>([])
        worker.enqueue { _ in
            inBody.signal()
            release.wait()
            log.withLock { $0.append("first piece done") }
        }
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                inBody.wait()
                continuation.resume()
            }
        }
        for _ in 0..<10 { worker.enqueue(weight: 1) { _ in } }  // 10 rows queued behind the stuck piece: over 4
        let started = Mutex(false)
        let waiter = Task {
            started.withLock { $0 = true }
            await worker.waitForRoom()
            log.withLock { $0.append("room") }
        }
        while !started.withLock({ $0 }) { await Task.yield() }
        try await Task.sleep(for: .milliseconds(50))  // time for a wrong waitForRoom to return early (never a pass condition)
        #expect(log.withLock { $0 }.isEmpty)
        release.signal()
        await waiter.value
        #expect(log.withLock { $0 } == ["first piece done", "room"])
    }
}
