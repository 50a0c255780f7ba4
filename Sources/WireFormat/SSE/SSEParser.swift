/// An incremental parser for `text/event-stream` bytes.
///
/// Feed it chunks as they arrive, split anywhere (inside a line, inside a CRLF pair, inside a UTF-8 sequence);
/// it returns every frame completed by that chunk. Lines end with LF, CRLF or CR; `data:` lines of one frame are
/// joined with `\n`; lines starting with `:` are comments; unknown fields are ignored. Text is decoded only once
/// a line is complete, so multi-byte characters may straddle chunks.
public struct SSEParser: Sendable {
    /// The largest frame (all its lines) accepted before ``SSEError/frameTooLarge(limit:offset:)``.
    public let maxFrameBytes: Int

    private var line: [UInt8] = []
    private var lastByteWasCR = false
    private var consumed = 0
    private var frameStart = 0
    private var frameBytes = 0
    private var sawField = false
    private var eventName: String?
    private var data: [UInt8] = []
    private var hasData = false
    private var lastEventID: String?
    private var retry: Int?

    /// - Parameter maxFrameBytes: bound on one frame's size; the default (8 MiB) is far above any real event.
    public init(maxFrameBytes: Int = 8 * 1024 * 1024) {
        self.maxFrameBytes = maxFrameBytes
    }

    /// Total bytes fed so far.
    public var bytesConsumed: Int { consumed }

    /// Feeds the next chunk of the stream and returns the frames it completed, in order.
    public mutating func feed(_ chunk: [UInt8]) throws(SSEError) -> [SSEFrame] {
        var frames: [SSEFrame] = []
        let result: Result<Void, SSEError> = chunk.withUnsafeBufferPointer { buffer in
            Result { () throws(SSEError) in try feed(buffer, into: &frames) }
        }
        try result.get()
        return frames
    }

    /// Feeds bytes and appends completed frames to `frames`.
    public mutating func feed(_ bytes: UnsafeBufferPointer<UInt8>, into frames: inout [SSEFrame]) throws(SSEError) {
        var start = 0
        var index = 0
        let count = bytes.count
        while index < count {
            let byte = bytes[index]
            if byte != 0x0A && byte != 0x0D {
                index += 1
                continue
            }
            // A line end. An LF right after a CR (possibly in an earlier chunk) completes the CRLF pair.
            if byte == 0x0A && lastByteWasCR && index == start && line.isEmpty {
                lastByteWasCR = false
                consumed += 1
                if frameBytes == 0 { frameStart = consumed } else { frameBytes += 1 }
                index += 1
                start = index
                continue
            }
            line.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
            consumed += index - start + 1
            frameBytes += index - start + 1
            try checkFrameSize()
            lastByteWasCR = byte == 0x0D
            processLine(into: &frames)
            index += 1
            start = index
        }
        if start < count {
            line.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<count]))
            consumed += count - start
            frameBytes += count - start
            lastByteWasCR = false
            try checkFrameSize()
        }
    }

    /// Ends the stream. A frame without its closing blank line is not dispatched (as the SSE standard and the
    /// official SDKs do); the number of bytes so discarded is returned so the caller can record a truncation.
    public mutating func finish() -> Int {
        let pending = sawField || !line.isEmpty ? frameBytes : 0
        resetFrame()
        line.removeAll()
        return pending
    }

    private mutating func checkFrameSize() throws(SSEError) {
        if frameBytes > maxFrameBytes {
            let offset = frameStart
            resetFrame()
            line.removeAll()
            throw .frameTooLarge(limit: maxFrameBytes, offset: offset)
        }
    }

    private mutating func resetFrame() {
        sawField = false
        eventName = nil
        data.removeAll(keepingCapacity: true)
        hasData = false
        retry = nil
        frameBytes = 0
        frameStart = consumed
    }

    private mutating func processLine(into frames: inout [SSEFrame]) {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            if sawField {
                frames.append(
                    SSEFrame(
                        event: eventName, data: String(decoding: data, as: UTF8.self), id: lastEventID,
                        retry: retry, offset: frameStart))
            }
            resetFrame()
            return
        }
        if line[0] == UInt8(ascii: ":") { return }  // comment
        let colon = line.firstIndex(of: UInt8(ascii: ":"))
        let nameBytes = colon.map { line[..<$0] } ?? line[...]
        var valueStart = colon.map { $0 + 1 } ?? line.count
        if valueStart < line.count, line[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
        let value = line[valueStart...]
        switch String(decoding: nameBytes, as: UTF8.self) {
        case "event":
            sawField = true
            eventName = String(decoding: value, as: UTF8.self)
        case "data":
            sawField = true
            if hasData { data.append(0x0A) }
            data.append(contentsOf: value)
            hasData = true
        case "id":
            if !value.contains(0) {
                sawField = true
                lastEventID = String(decoding: value, as: UTF8.self)
            }
        case "retry":
            if !value.isEmpty, value.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
                sawField = true
                retry = Int(String(decoding: value, as: UTF8.self))
            }
        default:
            break  // unknown fields are ignored, as the standard says
        }
    }
}
