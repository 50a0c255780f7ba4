/// Which deltas get a snapshot under `snapshots: all`: for each object, its 1st, 2nd, 4th, 8th … delta.
///
/// With that doubling spacing the snapshots of an object add up to less than about twice its final size, so the
/// bytes stored per delta stay bounded however long an answer runs; the deltas between two snapshots are in the
/// event log, so every intermediate state can still be rebuilt.
public struct DeltaSnapshotSampler: Sendable {
    private var deltaCounts: [String: Int] = [:]
    /// Every delta gets one (rebuilding snapshots from stored frames, to compare with whichever were stored).
    private let everyDelta: Bool

    public init(everyDelta: Bool = false) { self.everyDelta = everyDelta }

    /// Counts one delta of `objectID`; whether its snapshot is to be stored after it.
    public mutating func shouldSnapshot(_ objectID: String) -> Bool {
        if everyDelta { return true }
        let count = (deltaCounts[objectID] ?? 0) + 1
        deltaCounts[objectID] = count
        return count & (count - 1) == 0
    }
}
