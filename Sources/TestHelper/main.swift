import Foundation
import RunLoopCore

// toolworker-test-helper: processes the tests start and kill.
//   crash-writer DB   writes events to DB forever, printing "acked N" once event N is durable.
signal(SIGPIPE, SIG_IGN)
let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count == 2, arguments[0] == "crash-writer" else {
    FileHandle.standardError.write(Data("usage: toolworker-test-helper crash-writer DB\n".utf8))
    exit(64)
}
let store = try AuditStore(path: arguments[1])
let runKey = try await store.createRun(assistantID: "asst_crash", threadID: nil, jobID: nil, request: [:], protocolName: AssistantsBackend.descriptor.name)
FileHandle.standardOutput.write(Data("run \(runKey)\n".utf8))
var seq = 0
while true {
    for _ in 0..<10 {
        seq += 1
        let data = #"{"id":"msg_1","object":"thread.message.delta","delta":{"content":[{"index":0,"type":"text","text":{"value":"x"}}]}}"#
        let record = EventRecord(
            seq: seq, stream: 1, name: "thread.message.delta", kind: .event, data: data, byteOffset: seq * 100, error: nil,
            receivedAt: unixMilliseconds())
        store.enqueueProgress(runKey: runKey, events: [record], snapshots: [], run: nil)
    }
    try await store.flush()
    FileHandle.standardOutput.write(Data("acked \(seq)\n".utf8))
}
