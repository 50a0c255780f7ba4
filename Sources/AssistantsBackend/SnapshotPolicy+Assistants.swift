import AssistantsProtocol
import WireFormat
import WorkModel

extension SnapshotPolicy {
    /// The snapshots to store after `event` (already applied to `accumulator`); under `all`, `sampler` picks the
    /// deltas that get one. (Their `eventSeq` is set when the event is numbered.)
    public func snapshots(
        after event: AssistantEvent, accumulator: SnapshotAccumulator, sampler: inout DeltaSnapshotSampler
    ) -> [SnapshotRecord] {
        let seq: Int? = nil
        switch event {
        case .run(let kind, let run):
            var records = [SnapshotRecord(eventSeq: seq, type: .run, objectID: run.id ?? "?", status: run.status?.rawValue, data: run.json)]
            if kind == .requiresAction {
                // The calls as streamed so far, as the handlers are about to see them.
                for step in accumulator.finalRunSteps where step.type == "tool_calls" && step.status == "in_progress" {
                    records += toolCallSnapshots(step, seq: seq)
                }
            }
            return records
        case .runStep(let kind, let step):
            var records = [SnapshotRecord(eventSeq: seq, type: .runStep, objectID: step.id ?? "?", status: step.status, data: step.json)]
            if step.type == "tool_calls" && kind != .created && kind != .inProgress {
                records += toolCallSnapshots(step, seq: seq)
            }
            return records
        case .message(_, let message):
            return [SnapshotRecord(eventSeq: seq, type: .message, objectID: message.id ?? "?", status: message.status, data: message.json)]
        case .runStepDelta(let delta) where self == .all:
            guard let id = delta.id, sampler.shouldSnapshot(id), let step = accumulator.runSteps[id] else { return [] }
            return [SnapshotRecord(eventSeq: seq, type: .runStep, objectID: id, status: step["status"]?.stringValue, data: step)]
        case .messageDelta(let delta) where self == .all:
            guard let id = delta.id, sampler.shouldSnapshot(id), let message = accumulator.messages[id] else { return [] }
            return [SnapshotRecord(eventSeq: seq, type: .message, objectID: id, status: message["status"]?.stringValue, data: message)]
        default:
            return []
        }
    }

    private func toolCallSnapshots(_ step: RunStep, seq: Int?) -> [SnapshotRecord] {
        (step.json[path: "step_details.tool_calls"]?.arrayValue ?? []).compactMap { call in
            guard let id = call["id"]?.stringValue else { return nil }
            return SnapshotRecord(eventSeq: seq, type: .toolCall, objectID: id, status: step.status, data: call)
        }
    }
}
