import Foundation
import Logging
import WireFormat

/// What a stdio MCP server writes to its stderr, read on a thread of its own and logged one line at a time: each
/// line prefixed with the server's name (`mcp_server` metadata), its control characters escaped (no forged log
/// lines, no terminal escapes), at most 4 KiB of it, and at most `burst` lines at once then `perSecond` a second;
/// what goes over is counted and said once the server calms down or exits. Never copied to this process's own
/// stderr: `tools` and `check-config` print none of a server's banners or tracebacks.
enum ServerStderr {
    static let maxLineBytes = 4096

    /// Reads `fd` (owned: closed at end of file) until the server closes it.
    static func drain(_ fd: Int32, server: String, logger: Logger, burst: Double = 50, perSecond: Double = 10) {
        let thread = Thread {
            var limiter = TokenBucket(burst: burst, perSecond: perSecond)
            var dropped = 0
            var pending: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 16_384)
            func emit(_ line: ArraySlice<UInt8>) {
                guard !line.isEmpty else { return }
                guard limiter.admit(now: ContinuousClock.now) else {
                    dropped += 1
                    return
                }
                if dropped > 0 {
                    logger.warning("MCP server stderr: lines dropped (too many)", metadata: ["mcp_server": "\(server)", "dropped": "\(dropped)"])
                    dropped = 0
                }
                var text = String(decoding: line.prefix(maxLineBytes), as: UTF8.self)
                if line.count > maxLineBytes { text += "… [\(line.count - maxLineBytes) bytes cut]" }
                logger.notice("mcp \(server): \(ControlCharacters.escaped(text))", metadata: ["mcp_server": "\(server)"])
            }
            while true {
                let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { break }
                var start = buffer.startIndex
                for index in 0..<count where buffer[index] == UInt8(ascii: "\n") {
                    if pending.isEmpty {
                        emit(buffer[start..<index])
                    } else {
                        pending += buffer[start..<index]
                        emit(pending[...])
                        pending.removeAll(keepingCapacity: true)
                    }
                    start = index + 1
                }
                // A line without an end is kept to its cap; the rest of it is counted, not held.
                if pending.count < maxLineBytes + 1 { pending += buffer[start..<count].prefix(maxLineBytes + 1 - pending.count) }
            }
            emit(pending[...])
            if dropped > 0 {
                logger.warning("MCP server stderr: lines dropped (too many)", metadata: ["mcp_server": "\(server)", "dropped": "\(dropped)"])
            }
            close(fd)
        }
        thread.name = "toolworker-mcp-stderr"
        thread.start()
    }
}
