import ResponsesProtocol
import WireFormat
import WorkModel
import Worker

extension ResponsesBackend {
    /// The loop's stored frames accumulated again as its session did: a stream that begins with `response.created`
    /// is a new response of the chain (its sequence numbers start again), any other a resumed one; a frame the
    /// accumulator does not apply (after a protocol error) makes no snapshot, as it made none live. The round grows
    /// with each response after the first.
    public func rebuild(_ frames: [StoredFrame]) -> RebuiltLoop { Self.rebuild(frames) }

    /// See ``rebuild(_:)``: it needs no client.
    public static func rebuild(_ frames: [StoredFrame]) -> RebuiltLoop {
        var rebuilt = RebuiltLoop()
        var accumulator = ResponseAccumulator()
        var sampler = DeltaSnapshotSampler(everyDelta: true)
        var stream: Int?
        var responses = 0
        for frame in frames where frame.kind != .note {
            let event = ResponseEventDecoder.decode(SSEFrame(event: frame.name.isEmpty ? nil : frame.name, data: frame.data))
            if frame.stream != stream {
                stream = frame.stream
                if frame.name == "response.created" { accumulator.startNextResponse() } else { accumulator.startResumedStream() }
            }
            if frame.name == "response.created" { responses += 1 }
            rebuilt.rounds[frame.seq] = max(0, responses - 1)
            switch accumulator.applying(event) {
            case .applied, .appliedOutOfOrder:
                for var record in ResponsesSnapshots.after(event, accumulator: accumulator, policy: .all, sampler: &sampler) {
                    record.eventSeq = frame.seq
                    rebuilt.snapshots.append(record)
                }
            case .replayed, .rejected:
                continue
            }
        }
        return rebuilt
    }
}
