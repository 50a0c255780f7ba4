import Foundation
import FuzzDriver
import RunLoopCore

/// libFuzzer target: configuration loading from arbitrary text. A `ConfigError` is the expected answer to bad
/// input; a crash, a trap or runaway memory is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    _ = try? ConfigLoader.parse(text, file: "/nonexistent/fuzz.yaml")
    return 0
}

@_cdecl("FuzzConfig_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv) { data, size in fuzzConfig(data, size) }
}
