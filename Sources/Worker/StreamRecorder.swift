import Journal
import WireFormat
import WorkModel

/// Stores every event of a loop's streams, the snapshots its backend keeps after them, and the loop's latest state.
///
/// Deltas are buffered briefly (up to `maxBuffered` events or `maxDelay`) and enqueued as one piece of the journal's
/// group commit; a lifecycle event, the end of a stream and ``flush()`` push the buffer at once. Numbering
/// (`seq`) runs on across the loop's streams.
public struct StreamRecorder: Sendable {
    public let journal: any RunJournal
    public let runKey: Int64
    public private(set) var nextSeq: Int
    public var maxBuffered = 32
    public var maxDelay: Duration = .milliseconds(100)

    /// Prices the usage of the requests the loop's events report complete.
    public var ledger: UsageLedger
    /// The loop's model, as its states name it (a run step's usage names none).
    public var model: String?
    /// The provider its requests go to (the usage ledger's `provider`).
    public var provider = "default"

    private var events: [EventRecord] = []
    private var snapshots: [SnapshotRecord] = []
    private var usage: [UsageRecord] = []
    /// The requests counted already (the journal keeps each once; this keeps the metrics from counting one twice
    /// when a reconciliation reads again what a stream reported).
    private var countedRequests: Set<String> = []
    private var latestState: RunStateRecord?
    private var bufferedSince: ContinuousClock.Instant?
    /// The id of the response (or run) the current stream belongs to: stored with each event.
    public var responseID: String?

    public init(journal: any RunJournal, runKey: Int64, nextSeq: Int = 1, ledger: UsageLedger = UsageLedger(), model: String? = nil) {
        self.journal = journal
        self.ledger = ledger
        self.model = model
        self.runKey = runKey
        self.nextSeq = nextSeq
    }

    /// Records one event and what came with it.
    public mutating func record(_ event: LoopEvent, stream: Int) {
        WorkerMetrics.eventsIngested.increment()
        WorkerMetrics.eventBytes.increment(by: event.data.utf8.count)
        let seq = nextSeq
        nextSeq += 1
        if let id = event.state?.id { responseID = id }
        events.append(EventRecord(
            seq: seq, stream: stream, name: event.name, kind: event.kind, data: event.data, byteOffset: event.byteOffset,
            error: event.error, receivedAt: unixMilliseconds(), responseID: responseID))
        for var snapshot in event.snapshots {
            snapshot.eventSeq = seq
            snapshots.append(snapshot)
        }
        if let state = event.state {
            latestState = state.record
            model = state.model ?? model
        }
        account(event.usage, eventSeq: seq)
        let now = ContinuousClock.now
        if bufferedSince == nil { bufferedSince = now }
        if !event.isDelta || events.count >= maxBuffered || now - bufferedSince! >= maxDelay {
            push()
        }
    }

    /// Goes on numbering events at `seq` (after notes written beside the recorder, a round's live output).
    public mutating func `continue`(at seq: Int) {
        nextSeq = max(nextSeq, seq)
    }

    /// Records a note of ToolWorker's own in the event log (a dropped stream, a reconciliation), in order.
    public mutating func note(_ name: String, _ detail: JSONValue, stream: Int) {
        let seq = nextSeq
        nextSeq += 1
        events.append(EventRecord(
            seq: seq, stream: stream, name: name, kind: .note, data: detail.serialized(), byteOffset: 0, error: nil,
            receivedAt: unixMilliseconds(), responseID: responseID))
        push()
    }

    /// Records the usage of requests learned without an event (a retrieved response, a run's final steps).
    public mutating func recordUsage(_ requests: [RequestUsage]) {
        if account(requests, eventSeq: nil) { push() }
    }

    /// Prices the requests not counted yet and buffers their records; whether there was any.
    @discardableResult
    private mutating func account(_ requests: [RequestUsage], eventSeq: Int?) -> Bool {
        let before = usage.count
        for request in requests where countedRequests.insert(request.source).inserted {
            usage.append(ledger.record(request, eventSeq: eventSeq, loopModel: model, provider: provider))
        }
        return usage.count > before
    }

    /// Hands buffered records to the journal's queue (not yet durable: see ``flush()``).
    public mutating func push() {
        journal.enqueueProgress(runKey: runKey, events: events, snapshots: snapshots, run: latestState, usage: usage)
        events.removeAll(keepingCapacity: true)
        usage.removeAll()
        snapshots.removeAll(keepingCapacity: true)
        latestState = nil
        bufferedSince = nil
    }

    /// Pushes and waits until everything recorded so far is durable.
    public mutating func flush() async throws {
        push()
        try await journal.flush()
    }
}
