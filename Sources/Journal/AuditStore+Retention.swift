import WireFormat
import WorkModel
extension AuditStore {
    /// What a prune removed.
    public struct PruneResult: Sendable, Equatable {
        public var runs = 0
        public var jobs = 0
    }

    /// Deletes finished runs that ended before `cutoff` (Unix ms) with everything under them, and finished jobs
    /// left without runs, `batchSize` runs per transaction so the write lock is never held for long. Leaves a
    /// consistent database at every step, then returns free pages and checkpoints the WAL.
    public func prune(endedBefore cutoff: Int64, batchSize: Int = 50) async throws -> PruneResult {
        var result = PruneResult()
        while true {
            let deleted = try await write { db -> Int in
                switch db.dialect {
                case .sqlite:
                    // Events, snapshots and tool calls go with their run (ON DELETE CASCADE).
                    try db.execute(
                        "DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE ended_at IS NOT NULL AND ended_at < ? ORDER BY id LIMIT ?)",
                        [.integer(cutoff), .integer(Int64(batchSize))])
                case .postgres:
                    // PostgreSQL's events and snapshots have no foreign key (for ingest speed): deleted explicitly.
                    try db.execute(
                        """
                        WITH doomed AS (SELECT id FROM runs WHERE ended_at IS NOT NULL AND ended_at < ? ORDER BY id LIMIT ? FOR UPDATE),
                             gone_events AS (DELETE FROM events WHERE run IN (SELECT id FROM doomed)),
                             gone_snapshots AS (DELETE FROM snapshots WHERE run IN (SELECT id FROM doomed))
                        DELETE FROM runs WHERE id IN (SELECT id FROM doomed)
                        """,
                        [.integer(cutoff), .integer(Int64(batchSize))])
                }
                return db.changes
            }
            result.runs += deleted
            if deleted < batchSize { break }
        }
        result.jobs = try await write { db -> Int in
            try db.execute(
                """
                DELETE FROM jobs WHERE state IN ('succeeded','failed','cancelled') AND updated_at < ?
                    AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.job_id = jobs.id)
                """,
                [.integer(cutoff)])
            return db.changes
        }
        try await maintenance()
        return result
    }

    /// After large deletions: SQLite returns free pages to the file system and truncates the WAL; PostgreSQL
    /// refreshes the planner's statistics (its autovacuum reclaims the space).
    public func maintenance() async throws {
        let script = switch dialect {
        case .sqlite: "PRAGMA incremental_vacuum; PRAGMA wal_checkpoint(TRUNCATE); PRAGMA optimize;"
        case .postgres: "ANALYZE runs; ANALYZE jobs; ANALYZE events; ANALYZE snapshots; ANALYZE tool_calls;"
        }
        try await writer.perform(standalone: true) { db in try db.executeScript(script) }
    }
}
