import FuzzDriver
import RunLoopCore

/// libFuzzer target: bytes → SSE parser (chunked at offsets the first byte chooses) → Responses event decoder →
/// accumulator, then every read of the snapshot. Any crash, trap or hang is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzResponses(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let first = bytes.first else { return 0 }
    let chunkSize = Int(first % 64) + 1
    var parser = SSEParser(maxFrameBytes: 64 * 1024)
    var accumulator = ResponseAccumulator()
    var index = 1
    while index < bytes.count {
        let end = min(bytes.count, index + chunkSize)
        guard let frames = try? parser.feed(Array(bytes[index..<end])) else { return 0 }
        for frame in frames { accumulator.apply(ResponseEventDecoder.decode(frame)) }
        index = end
    }
    _ = accumulator.response
    _ = accumulator.functionCalls
    _ = accumulator.outputText
    return 0
}

@_cdecl("FuzzResponses_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv) { data, size in fuzzResponses(data, size) }
}
