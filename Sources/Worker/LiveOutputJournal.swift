import Foundation
import Journal
import Synchronization
import ToolRunner
import WireFormat
import WorkModel

/// Journals a round's running calls' output as it arrives: `toolworker.tool_output` notes in the event log
/// (`{"call_id", "stream": stdout|stderr|progress, "text", "partial": true}`), which `events --follow` and `status`
/// show while the call runs. Never instead of the final output (the call's outcome is recorded as always).
///
/// Bounded and rate-limited per call: pieces arriving within 250 ms of the last note are held and go together with
/// the next; at most 64 KiB of a call's output is noted (then one note says the rest is left out). Notes take event
/// numbers from the round's recorder, allocated and queued under one lock, so the journal commits them in order.
final class LiveOutputJournal: Sendable {
    static let interval: Duration = .milliseconds(250)
    static let limitBytes = 64 * 1024

    private struct Call {
        var pending: [LiveOutputStream: [UInt8]] = [:]
        var lastNote: ContinuousClock.Instant?
        var noted = 0
        var capped = false
    }

    private struct State {
        var nextSeq: Int
        var calls: [String: Call] = [:]
    }

    private let journal: any RunJournal
    private let runKey: Int64
    private let stream: Int
    private let secrets: [String]
    private let state: Mutex<State>

    init(journal: any RunJournal, runKey: Int64, stream: Int, nextSeq: Int, secrets: [String]) {
        self.journal = journal
        self.runKey = runKey
        self.stream = stream
        self.secrets = secrets
        state = Mutex(State(nextSeq: nextSeq))
    }

    /// The event number after the last note (the recorder goes on from it).
    var nextSeq: Int { state.withLock { $0.nextSeq } }

    /// The sink of call `callID`.
    func sink(_ callID: String) -> any LiveOutputSink { Sink(journal: self, callID: callID) }

    /// Notes what is still held of call `callID` (it ended).
    func finish(_ callID: String) {
        note(callID, stream: nil, bytes: [], force: true)
    }

    private struct Sink: LiveOutputSink {
        let journal: LiveOutputJournal
        let callID: String
        func partial(_ stream: LiveOutputStream, _ bytes: [UInt8]) { journal.note(callID, stream: stream, bytes: bytes, force: false) }
    }

    private func note(_ callID: String, stream kind: LiveOutputStream?, bytes: [UInt8], force: Bool) {
        let now = ContinuousClock.now
        state.withLock { state in
            var call = state.calls[callID] ?? Call()
            defer { state.calls[callID] = call }
            guard !call.capped else { return }
            if let kind, !bytes.isEmpty { call.pending[kind, default: []] += bytes }
            let held = call.pending.values.reduce(0) { $0 + $1.count }
            guard held > 0, force || call.lastNote.map({ now - $0 >= Self.interval }) ?? true else { return }
            call.lastNote = now
            var events: [EventRecord] = []
            for kind in [LiveOutputStream.stdout, .stderr, .progress] {
                guard var piece = call.pending[kind], !piece.isEmpty else { continue }
                call.pending[kind] = nil
                let room = Self.limitBytes - call.noted
                var detail: JSONObject = ["call_id": .string(callID), "stream": .string(kind.rawValue), "partial": true]
                if piece.count > room {
                    piece = Array(piece.prefix(max(room, 0)))
                    call.capped = true
                    detail["truncated"] = true
                    detail["note"] = .string("partial output past \(Self.limitBytes) bytes is left out; the final output is recorded as always")
                }
                call.noted += piece.count
                detail["text"] = .string(redacted(String(decoding: piece, as: UTF8.self)))
                events.append(EventRecord(
                    seq: state.nextSeq, stream: stream, name: "toolworker.tool_output", kind: .note,
                    data: JSONValue.object(detail).serialized(), byteOffset: 0, error: nil, receivedAt: unixMilliseconds()))
                state.nextSeq += 1
                if call.capped { break }
            }
            // Queued under the lock: the writer commits in queue order, so the event numbers land in order.
            if !events.isEmpty { journal.enqueueProgress(runKey: runKey, events: events, snapshots: [], run: nil) }
        }
    }

    private func redacted(_ text: String) -> String {
        var text = text
        for secret in secrets where secret.utf8.count >= 6 && text.contains(secret) {
            text = text.replacingOccurrences(of: secret, with: "[REDACTED]")
        }
        return text
    }
}
