import FuzzDriver
import RunLoopCore

/// libFuzzer target: bytes → SSE parser (chunked at offsets the input's first bytes choose) → event decoder →
/// snapshot accumulator. Any crash, trap or hang is a bug; errors the parser reports are not.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSSE(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let first = bytes.first else { return 0 }
    let chunkSize = Int(first % 64) + 1
    var parser = SSEParser(maxFrameBytes: 64 * 1024)
    var accumulator = SnapshotAccumulator()
    var index = 1
    do {
        while index < bytes.count {
            let end = min(bytes.count, index + chunkSize)
            for frame in try parser.feed(Array(bytes[index..<end])) {
                let event = EventDecoder.decode(frame)
                _ = accumulator.apply(event.event, helpers: true)
            }
            index = end
        }
        _ = parser.finish()
    } catch {
        return 0
    }
    _ = accumulator.finalMessages.map(\.text)
    return 0
}

@_cdecl("FuzzSSE_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv) { data, size in fuzzSSE(data, size) }
}
