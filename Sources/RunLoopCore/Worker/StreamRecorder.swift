/// Stores every event of a run's streams, the snapshots the policy asks for, and the run's latest state.
///
/// Deltas are buffered briefly (up to `maxBuffered` events or `maxDelay`) and enqueued as one piece of the store's
/// group commit; a lifecycle event, the end of a stream and ``flush()`` push the buffer at once. Numbering
/// (`seq`) runs on across the run's streams.
public struct StreamRecorder: Sendable {
    public let store: AuditStore
    public let runKey: Int64
    public let policy: SnapshotPolicy
    public private(set) var nextSeq: Int
    public var maxBuffered = 256
    public var maxDelay: Duration = .milliseconds(100)

    private var events: [EventRecord] = []
    private var snapshots: [SnapshotRecord] = []
    private var latestRun: Run?
    private var bufferedSince: ContinuousClock.Instant?

    public init(store: AuditStore, runKey: Int64, policy: SnapshotPolicy, nextSeq: Int = 1) {
        self.store = store
        self.runKey = runKey
        self.policy = policy
        self.nextSeq = nextSeq
    }

    /// Records one event (already applied to `accumulator`).
    public mutating func record(_ event: ServerEvent, stream: Int, accumulator: SnapshotAccumulator) {
        let seq = nextSeq
        nextSeq += 1
        events.append(EventRecord(seq: seq, stream: stream, event: event, receivedAt: unixMilliseconds()))
        snapshots += policy.snapshots(after: event.event, seq: seq, accumulator: accumulator)
        var isDelta = false
        switch event.event {
        case .run(_, let run): latestRun = run
        case .runStepDelta, .messageDelta: isDelta = true
        default: break
        }
        let now = ContinuousClock.now
        if bufferedSince == nil { bufferedSince = now }
        if !isDelta || events.count >= maxBuffered || now - bufferedSince! >= maxDelay {
            push()
        }
    }

    /// Records a note of ToolWorker's own in the event log (a dropped stream, a reconciliation), in order.
    public mutating func note(_ name: String, _ detail: JSONValue, stream: Int) {
        let event = ServerEvent(name: name, data: detail.serialized(), offset: 0, event: .unknown(name: name, data: detail))
        let seq = nextSeq
        nextSeq += 1
        var record = EventRecord(seq: seq, stream: stream, event: event, receivedAt: unixMilliseconds())
        record.isNote = true
        events.append(record)
        push()
    }

    /// Hands buffered records to the store's queue (not yet durable: see ``flush()``).
    public mutating func push() {
        store.enqueueProgress(runKey: runKey, events: events, snapshots: snapshots, run: latestRun)
        events.removeAll(keepingCapacity: true)
        snapshots.removeAll(keepingCapacity: true)
        latestRun = nil
        bufferedSince = nil
    }

    /// Pushes and waits until everything recorded so far is durable.
    public mutating func flush() async throws {
        push()
        try await store.flush()
    }
}
