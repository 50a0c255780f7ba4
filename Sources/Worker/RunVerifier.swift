import WireFormat
import WorkModel

/// Checks a loop's stored snapshots against what its stored frames produce when accumulated again
/// (``ToolLoopBackend/rebuild(_:)``): the journal's snapshots are proven to be its frames' (`toolworker verify`).
///
/// Every snapshot stored after an event (`eventSeq` set) is compared with the rebuilt one of the same object at the
/// same event; a sampled delta snapshot (`snapshots: all`) is compared where it was stored. A snapshot read back
/// from the server (a reconciliation's, without `eventSeq`) comes from no frame and is counted, not compared.
public enum RunVerifier {
    /// Where the stored snapshots and the frames first disagree.
    public struct Divergence: Sendable, Equatable, CustomStringConvertible {
        public var round: Int
        public var eventSeq: Int
        public var stream: Int
        public var object: String
        /// The first differing place: `nil` when the frames produce no such snapshot at that event.
        public var difference: JSONDifference?

        public var description: String {
            let place = "round \(round), event \(eventSeq) (stream \(stream)), \(object)"
            guard let difference else { return "\(place): stored, but its frames produce no such snapshot at that event" }
            return "\(place) at \(difference.path): stored \(difference.left.map(JSONDifference.shown) ?? "(missing)"), "
                + "rebuilt from the frames \(difference.right.map(JSONDifference.shown) ?? "(missing)")"
        }
    }

    /// What a verification found.
    public struct Report: Sendable {
        public var frames = 0
        /// Stored snapshots compared with their rebuilt counterpart.
        public var compared = 0
        /// Stored snapshots read back from the server, not made from a frame.
        public var retrieved = 0
        public var divergence: Divergence?
    }

    /// Compares `stored` (in the order they were written) with `rebuilt`, what the protocol's backend made of
    /// `frames` again (``ToolLoopBackend/rebuild(_:)``).
    public static func verify(frames: [StoredFrame], stored: [StoredSnapshot], rebuilt: RebuiltLoop) -> Report {
        var byEvent: [String: JSONValue] = [:]
        for record in rebuilt.snapshots {
            guard let seq = record.eventSeq else { continue }
            byEvent[key(seq, record.type.rawValue, record.objectID)] = record.data
        }
        let streams = Dictionary(frames.map { ($0.seq, $0.stream) }, uniquingKeysWith: { first, _ in first })
        var report = Report()
        report.frames = frames.filter { $0.kind != .note }.count
        for snapshot in stored {
            guard let seq = snapshot.eventSeq else {
                report.retrieved += 1
                continue
            }
            report.compared += 1
            let round = rebuilt.rounds[seq] ?? rebuilt.rounds.filter { $0.key < seq }.max { $0.key < $1.key }?.value ?? 0
            let object = "\(snapshot.type) \(snapshot.objectID)"
            guard let expected = byEvent[key(seq, snapshot.type, snapshot.objectID)] else {
                report.divergence = Divergence(round: round, eventSeq: seq, stream: streams[seq] ?? 0, object: object, difference: nil)
                return report
            }
            if let difference = snapshot.data.firstDifference(from: expected) {
                report.divergence = Divergence(round: round, eventSeq: seq, stream: streams[seq] ?? 0, object: object, difference: difference)
                return report
            }
        }
        return report
    }

    private static func key(_ seq: Int, _ type: String, _ id: String) -> String { "\(seq)\u{1F}\(type)\u{1F}\(id)" }
}
