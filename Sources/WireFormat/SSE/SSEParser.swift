#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

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
    private var lastEventName: String?
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
            index = Self.lineEnd(in: bytes, from: index)
            if index == count { break }
            let byte = bytes[index]
            // A line end. An LF right after a CR (possibly in an earlier chunk) completes the CRLF pair.
            if byte == 0x0A && lastByteWasCR && index == start && line.isEmpty {
                lastByteWasCR = false
                consumed += 1
                if frameBytes == 0 { frameStart = consumed } else { frameBytes += 1 }
                index += 1
                start = index
                continue
            }
            consumed += index - start + 1
            frameBytes += index - start + 1
            try checkFrameSize()
            lastByteWasCR = byte == 0x0D
            if line.isEmpty {
                // The whole line is in this chunk: read it where it is.
                processLine(UnsafeBufferPointer(rebasing: bytes[start..<index]), into: &frames)
            } else {
                line.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
                var carried = line
                line = []
                carried.withUnsafeBufferPointer { processLine($0, into: &frames) }
                carried.removeAll(keepingCapacity: true)
                line = carried
            }
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

    /// The position of the first CR or LF at or after `start`, or `bytes.count` (memchr's vector search: lines are
    /// ~150 bytes, and looking at them a byte at a time was the parser's main cost).
    private static func lineEnd(in bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        let base = bytes.baseAddress!
        let remaining = bytes.count - start
        let lineFeed = memchr(base + start, 0x0A, remaining).map { UnsafePointer<UInt8>($0.assumingMemoryBound(to: UInt8.self)) - base } ?? bytes.count
        let carriageReturn = memchr(base + start, 0x0D, lineFeed - start).map { UnsafePointer<UInt8>($0.assumingMemoryBound(to: UInt8.self)) - base }
        return carriageReturn ?? lineFeed
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

    private mutating func processLine(_ line: UnsafeBufferPointer<UInt8>, into frames: inout [SSEFrame]) {
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
        let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.count
        let name = UnsafeBufferPointer(rebasing: line[..<colon])
        var valueStart = min(colon + 1, line.count)
        if valueStart < line.count, line[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
        let value = UnsafeBufferPointer(rebasing: line[valueStart...])
        if Self.matches(name, "data") {
            sawField = true
            if hasData { data.append(0x0A) }
            data.append(contentsOf: value)
            hasData = true
        } else if Self.matches(name, "event") {
            sawField = true
            eventName = internedEventName(value)
        } else if Self.matches(name, "id") {
            if !value.contains(0) {
                sawField = true
                lastEventID = String(decoding: value, as: UTF8.self)
            }
        } else if Self.matches(name, "retry") {
            if !value.isEmpty, value.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
                sawField = true
                retry = Int(String(decoding: value, as: UTF8.self))
            }
        }
        // Unknown fields are ignored, as the standard says.
    }

    private static func matches(_ bytes: UnsafeBufferPointer<UInt8>, _ field: StaticString) -> Bool {
        bytes.count == field.utf8CodeUnitCount && bytes.elementsEqual(UnsafeBufferPointer(start: field.utf8Start, count: field.utf8CodeUnitCount))
    }

    /// The event name as a string, reusing the last one when it repeats (a stream repeats a handful of names
    /// thousands of times; sharing them saves an allocation per frame).
    private mutating func internedEventName(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        if var last = lastEventName, last.utf8.count == bytes.count,
            bytes.isEmpty || last.withUTF8({ memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 })
        {
            return last
        }
        let name = String(decoding: bytes, as: UTF8.self)
        lastEventName = name
        return name
    }
}
