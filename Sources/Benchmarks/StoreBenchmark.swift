import Foundation
import RunLoopCore

/// Events/s persisted with group commit vs. one transaction per event, and bytes stored per event.
enum StoreBenchmark {
    static func events(deltas: Int) throws -> [ServerEvent] {
        var parser = SSEParser()
        var events: [ServerEvent] = []
        for chunk in SyntheticStream.chunked(SyntheticStream.messageStream(deltas: deltas), size: 1400) {
            for frame in try parser.feed(chunk) { events.append(EventDecoder.decode(frame)) }
        }
        return events
    }

    static func run() async throws {
        let deltas = 20_000
        let events = try events(deltas: deltas)
        let directory = NSTemporaryDirectory() + "toolworker-bench-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        var rates: [String: Double] = [:]
        // TOOLWORKER_BENCH_POLICIES=lifecycle leaves out `all` (its 1.6 GB of writes take minutes).
        let wanted = ProcessInfo.processInfo.environment["TOOLWORKER_BENCH_POLICIES"].map { $0.split(separator: ",").map(String.init) }
        for policy in SnapshotPolicy.allCases where wanted?.contains(policy.rawValue) ?? true {
            let path = "\(directory)/group-\(policy.rawValue).db"
            let store = try AuditStore(path: path)
            let seconds = try await ingest(events, into: store, policy: policy)
            try await store.maintenance()
            let bytes = AuditStore.fileSize(path: path)
            store.close()
            rates[policy.rawValue] = Double(events.count) / seconds
            print(String(format: "store, group commit, snapshots=%@: %d events in %.3f s = %.0f events/s; %.1f MB, %.0f bytes/event",
                         policy.rawValue, events.count, seconds, Double(events.count) / seconds, Double(bytes) / 1e6, Double(bytes) / Double(events.count)))
        }
        // One transaction per event, awaited one by one (what persisting without group commit costs).
        let path = "\(directory)/single.db"
        let store = try AuditStore(path: path)
        let runKey = try await store.createRun(assistantID: "asst_bench", threadID: nil, jobID: nil, request: [:], protocolName: AssistantsBackend.descriptor.name)
        let sample = Array(events.prefix(2000))
        let seconds = try await measureAsync {
            for (index, event) in sample.enumerated() {
                let record = EventRecord(
                    seq: index + 1, stream: 1, name: event.name, kind: .event, data: event.data, byteOffset: event.offset, error: nil,
                    receivedAt: 0)
                store.enqueueProgress(runKey: runKey, events: [record], snapshots: [], run: nil)
                try await store.flush()
            }
        }
        store.close()
        let single = Double(sample.count) / seconds
        print(String(format: "store, one transaction per event (first %d events): %.0f events/s; group commit is %.0fx faster",
                     sample.count, single, (rates["lifecycle"] ?? 0) / single))

        // The same ingest into PostgreSQL, next to SQLite's figure from this run (TOOLWORKER_BENCH_POSTGRES_URL).
        guard let url = postgresURL else { return }
        let pg = try AuditStore(connector: PostgresConnector(url: url))
        let pgSeconds = try await ingest(events, into: pg, policy: .lifecycle)
        pg.close()
        let pgRate = Double(events.count) / pgSeconds
        print(String(format: "store on PostgreSQL, group commit, snapshots=lifecycle: %d events in %.3f s = %.0f events/s; SQLite is %.2fx that",
                     events.count, pgSeconds, pgRate, (rates["lifecycle"] ?? 0) / pgRate))
    }

    /// Seconds to accumulate and durably record `events` as one run in `store` (group commit, `policy` snapshots).
    static func ingest(_ events: [ServerEvent], into store: AuditStore, policy: SnapshotPolicy) async throws -> Double {
        let runKey = try await store.createRun(assistantID: "asst_bench", threadID: nil, jobID: nil, request: [:], protocolName: AssistantsBackend.descriptor.name)
        var recorder = StreamRecorder(journal: store, runKey: runKey)
        var accumulator = SnapshotAccumulator()
        var sampler = DeltaSnapshotSampler()
        return try await measureAsync {
            for event in events {
                accumulator.apply(event.event, helpers: false)
                recorder.record(LoopEvent(event, accumulator: accumulator, policy: policy, sampler: &sampler), stream: 1)
            }
            try await recorder.flush()
        }
    }

    /// A PostgreSQL database for the journal benchmarks, when `TOOLWORKER_BENCH_POSTGRES_URL` names one.
    static var postgresURL: String? {
        ProcessInfo.processInfo.environment["TOOLWORKER_BENCH_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }
}
