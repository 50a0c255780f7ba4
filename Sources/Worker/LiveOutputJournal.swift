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
/// Bounded and rate-limited per call: a call's first note comes once it has run 250 ms (a quick call's output is
/// its final output alone: nothing more is written for it), pieces arriving within 250 ms of the last note are held
/// and go together with the next; at most 64 KiB of a call's output is noted (then one note says the rest is left
/// out). Notes take event
/// numbers from the round's recorder, allocated and queued under one lock, so the journal commits them in order.
final class LiveOutputJournal: Sendable {
    static let interval: Duration = .milliseconds(250)
    static let limitBytes = 64 * 1024

    private struct Call {
        var pending: [LiveOutputStream: [UInt8]] = [:]
        /// When the call began, then when its last note was written.
        var lastNote: ContinuousClock.Instant
        var everNoted = false
        var noted = 0
        var capped = false
    }

    private struct State {
        var nextSeq: Int
        var calls: [String: Call] = [:]
        /// The round is over: nothing more is noted.
        var closed = false
        /// Notes what is held every 250 ms; started with the round's first piece of output (a round of quiet
        /// calls starts none).
        var flusher: Task<Void, Never>?
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

    /// Ends the round's notes (a late flush notes nothing) and returns the event number after the last one: the
    /// recorder goes on from it.
    func close() -> Int {
        state.withLock { state in
            state.closed = true
            state.flusher?.cancel()
            state.flusher = nil
            return state.nextSeq
        }
    }

    /// The sink of call `callID`, which starts now.
    func sink(_ callID: String) -> any LiveOutputSink {
        let now = ContinuousClock.now
        state.withLock { $0.calls[callID] = Call(lastNote: now) }
        return Sink(journal: self, callID: callID)
    }

    /// Call `callID` ended: what is still held is noted, if the call was noted at all (a quick call's output is in
    /// its final output).
    func finish(_ callID: String) {
        let noted = state.withLock { $0.calls[callID]?.everNoted ?? false }
        if noted { note(callID, stream: nil, bytes: [], force: true) }
        _ = state.withLock { $0.calls.removeValue(forKey: callID) }
    }

    /// Notes what every call holds once its 250 ms have passed (called every 250 ms while the round runs, so a
    /// piece is noted even when no other follows it).
    func flushDue() {
        let ids = state.withLock { Array($0.calls.keys) }
        for id in ids { note(id, stream: nil, bytes: [], force: false) }
    }

    private struct Sink: LiveOutputSink {
        let journal: LiveOutputJournal
        let callID: String
        func partial(_ stream: LiveOutputStream, _ bytes: [UInt8]) { journal.note(callID, stream: stream, bytes: bytes, force: false) }
    }

    private func note(_ callID: String, stream kind: LiveOutputStream?, bytes: [UInt8], force: Bool) {
        let now = ContinuousClock.now
        state.withLock { state in
            guard !state.closed, var call = state.calls[callID] else { return }
            defer { state.calls[callID] = call }
            guard !call.capped else { return }
            if let kind, !bytes.isEmpty {
                call.pending[kind, default: []] += bytes
                if state.flusher == nil {
                    state.flusher = Task { [weak self] in
                        while !Task.isCancelled {
                            try? await Task.sleep(for: Self.interval)
                            self?.flushDue()
                        }
                    }
                }
            }
            let held = call.pending.values.reduce(0) { $0 + $1.count }
            guard held > 0, force || now - call.lastNote >= Self.interval else { return }
            call.lastNote = now
            call.everNoted = true
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
