import AssistantsProtocol
import WireFormat
import WorkModel
import Worker

extension AssistantsBackend {
    /// The run's stored frames accumulated again by one ``SnapshotAccumulator`` across all its streams, as a session
    /// follows a run across its start and every submit; a snapshot after every event that makes one (every delta's
    /// too). The round grows with the first stream after one that asked for outputs (`thread.run.requires_action`): a
    /// stream's closing `done` stays in its round.
    public func rebuild(_ frames: [StoredFrame]) -> RebuiltLoop { Self.rebuild(frames) }

    /// See ``rebuild(_:)``: it needs no client.
    public static func rebuild(_ frames: [StoredFrame]) -> RebuiltLoop {
        var rebuilt = RebuiltLoop()
        var accumulator = SnapshotAccumulator()
        var sampler = DeltaSnapshotSampler(everyDelta: true)
        var round = 0
        var stream: Int?
        var askedForOutputs = false
        for frame in frames where frame.kind != .note {
            if frame.stream != stream {
                stream = frame.stream
                if askedForOutputs { round += 1 }
                askedForOutputs = false
            }
            let event = EventDecoder.decode(SSEFrame(event: frame.name, data: frame.data)).event
            accumulator.apply(event, helpers: false)
            rebuilt.rounds[frame.seq] = round
            for var record in SnapshotPolicy.all.snapshots(after: event, accumulator: accumulator, sampler: &sampler) {
                record.eventSeq = frame.seq
                rebuilt.snapshots.append(record)
            }
            if case .run(.requiresAction, _) = event { askedForOutputs = true }
        }
        return rebuilt
    }
}
