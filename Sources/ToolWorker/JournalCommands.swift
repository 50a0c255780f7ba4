import ArgumentParser
import Foundation
import RunLoopCore

/// `toolworker migrate`: create or upgrade the journal's schema now (the daemon does it at start too).
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create or upgrade the journal's schema (SQLite file or PostgreSQL database) and print its version.",
        discussion: """
            Safe to run while daemons run and from several hosts at once: on PostgreSQL, migrations hold an advisory \
            lock, so one migrates and the others find nothing left to do.
            """)

    @OptionGroup var options: ConfigOption

    func run() async throws {
        try await guarded {
            let config = try options.load()
            let store = try openStore(config)
            defer { store.close() }
            let version = try await store.read { db in try JournalHistory(db).schemaVersion() }
            print("\(databaseLabel(config)): schema version \(version) (current)")
        }
    }
}

/// `toolworker copy-journal --from FILE`: copy a SQLite journal into the configured PostgreSQL one.
struct CopyJournalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy-journal",
        abstract: "Copy a SQLite journal's history (jobs, runs, events, snapshots, tool calls) into the configured PostgreSQL journal.",
        discussion: """
            Idempotent: every copied job and run is recorded, so running it again copies only what is new, and a copy \
            that stopped part-way goes on where it stopped. Stop the SQLite daemon first; runs still open are taken \
            over by a daemon of the PostgreSQL journal and resumed as after a restart.
            """)

    @OptionGroup var options: ConfigOption
    @Option(name: .customLong("from"), help: "The SQLite journal to copy (read only).") var source: String

    func run() async throws {
        try await guarded {
            let config = try options.load()
            guard config.usesPostgres else {
                throw CommandFailure(
                    message: "copy-journal copies into a PostgreSQL journal; \(config.file) has database: \(config.database)",
                    code: ExitStatus.usage)
            }
            guard FileManager.default.fileExists(atPath: source) else {
                throw CommandFailure(message: "no SQLite journal at \(source)", code: ExitStatus.usage)
            }
            // A FIFO would block the open; an empty file would open as an empty journal and copy nothing silently.
            var info = stat()
            guard stat(source, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
                throw CommandFailure(message: "\(source) is not a regular file (a FIFO, a device, a folder?): not a SQLite journal", code: ExitStatus.usage)
            }
            guard info.st_size > 0 else {
                throw CommandFailure(message: "\(source) is empty: not a SQLite journal", code: ExitStatus.dataError)
            }
            let sqlite = try AuditStore.openHistory(path: source)
            let target = try PostgresConnection(url: config.database, passwordFile: config.databasePasswordFile)
            try PostgresSchema.migrate(target)
            let report = try JournalCopier(source: sqlite, target: target).copy { progress in
                FileHandle.standardError.write(Data("copying: \(progress.runs) runs so far\n".utf8))
            }
            print("\(source) → \(databaseLabel(config)): \(report)")
        }
    }
}
