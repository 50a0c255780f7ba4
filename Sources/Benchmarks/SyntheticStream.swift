import Foundation
import RunLoopCore

/// Builds realistic Assistants v2 SSE bodies of any length for benchmarks.
enum SyntheticStream {
    static func frame(_ event: String, _ data: String) -> String { "event: \(event)\ndata: \(data)\n\n" }

    /// A text answer of `deltas` message deltas, framed exactly as the API frames it.
    /// Ids are as long as the API's (`msg_` and 24 characters), so they cost what real ones cost.
    static func messageStream(deltas: Int) -> [UInt8] {
        var text = ""
        let run = #"{"id":"run_abc123DEF456ghi789JKL0","object":"thread.run","thread_id":"thread_abc123DEF456ghi789JKL0","assistant_id":"asst_abc123DEF456ghi789JKL0","status":"in_progress","created_at":1764100000,"expires_at":1764100600}"#
        text += frame("thread.run.created", run)
        text += frame("thread.run.in_progress", run)
        text += frame("thread.message.created", #"{"id":"msg_abc123DEF456ghi789JKL0","object":"thread.message","run_id":"run_abc123DEF456ghi789JKL0","thread_id":"thread_abc123DEF456ghi789JKL0","role":"assistant","status":"in_progress","content":[]}"#)
        for i in 0..<deltas {
            let first = i == 0 ? #","annotations":[]"# : ""
            text += frame("thread.message.delta", #"{"id":"msg_abc123DEF456ghi789JKL0","object":"thread.message.delta","delta":{"content":[{"index":0,"type":"text","text":{"value":" token\#(i % 97)"\#(first)}}]}}"#)
        }
        text += frame("thread.run.completed", run.split(separator: "in_progress").joined(separator: "completed"))
        text += frame("done", "[DONE]")
        return Array(text.utf8)
    }

    /// A Responses API text answer of `deltas` `response.output_text.delta` events, framed as the API frames it.
    static func responseStream(deltas: Int) -> [UInt8] {
        let response = #"{"id":"resp_abc123DEF456ghi789JKL0","object":"response","created_at":1764100000,"status":"in_progress","model":"gpt-4.1","output":[]}"#
        let item = "msg_abc123DEF456ghi789JKL0"
        var text = frame("response.created", #"{"type":"response.created","sequence_number":0,"response":\#(response)}"#)
        text += frame("response.output_item.added", #"{"type":"response.output_item.added","sequence_number":1,"output_index":0,"item":{"id":"\#(item)","type":"message","status":"in_progress","content":[],"role":"assistant"}}"#)
        text += frame("response.content_part.added", #"{"type":"response.content_part.added","sequence_number":2,"item_id":"\#(item)","output_index":0,"content_index":0,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":""}}"#)
        for i in 0..<deltas {
            text += frame("response.output_text.delta", #"{"type":"response.output_text.delta","sequence_number":\#(i + 3),"item_id":"\#(item)","output_index":0,"content_index":0,"delta":" token\#(i % 97)","logprobs":[]}"#)
        }
        let completed = response.replacingOccurrences(of: "in_progress", with: "completed")
        text += frame("response.completed", #"{"type":"response.completed","sequence_number":\#(deltas + 3),"response":\#(completed)}"#)
        return Array(text.utf8)
    }

    static func chunked(_ bytes: [UInt8], size: Int) -> [[UInt8]] {
        stride(from: 0, to: bytes.count, by: size).map { Array(bytes[$0..<min(bytes.count, $0 + size)]) }
    }
}
