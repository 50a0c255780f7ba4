import Foundation
import Logging
import MCP

/// The MCP stdio transport over a child's pipes: newline-delimited JSON-RPC. A dedicated thread blocks in `read`
/// (no polling while the server is idle); end of file ends the message stream with ``ServerClosed``, which stops
/// the SDK client's receive loop.
actor PipeTransport: Transport {
    nonisolated let logger: Logger
    private let input: Int32
    private let output: Int32
    private let queue = MessageQueue()
    private var started = false
    private var closed = false

    /// The server closed its stdout (it exited, or is exiting).
    struct ServerClosed: Error, CustomStringConvertible {
        var description: String { "the MCP server closed its output" }
    }

    /// - Parameters:
    ///   - input: the read end of the server's stdout (owned: closed when reading ends).
    ///   - output: the write end of the server's stdin (owned: closed on disconnect).
    init(input: Int32, output: Int32, logger: Logger) {
        self.input = input
        self.output = output
        self.logger = logger
    }

    func connect() async throws {
        guard !started else { return }
        started = true
        let fd = input
        let queue = self.queue
        let logger = self.logger
        let thread = Thread {
            var pending: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { break }
                // Only the new bytes are searched for line ends: a long line costs its length once, not per read.
                var searchFrom = pending.count
                pending.append(contentsOf: buffer[..<count])
                var start = 0
                while let newline = pending[searchFrom...].firstIndex(of: UInt8(ascii: "\n")) {
                    let line = pending[start..<newline]
                    if !line.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { queue.push(Data(line)) }
                    start = newline + 1
                    searchFrom = start
                }
                pending.removeFirst(start)
                // A line without an end past 64 MiB is no message a client can use: the server is broken.
                if pending.count > 64 << 20 { break }
            }
            close(fd)
            if queue.droppedNotifications > 0 {
                logger.warning("MCP server: notifications dropped (more than 200 a second)", metadata: ["dropped": "\(queue.droppedNotifications)"])
            }
            queue.finish(throwing: ServerClosed())
        }
        thread.name = "toolworker-mcp-read"
        thread.start()
    }

    func disconnect() async {
        guard !closed else { return }
        closed = true
        close(output)
        queue.finish()
    }

    func send(_ data: Data) async throws {
        guard !closed else { throw MCPError.transportError(POSIXError(.ENOTCONN)) }
        var bytes = [UInt8](data)
        bytes.append(UInt8(ascii: "\n"))
        var offset = 0
        while offset < bytes.count {
            let (written, error) = bytes[offset...].withUnsafeBytes { Self.writeWithoutSIGPIPE(output, $0) }
            if written < 0 {
                if error == EINTR { continue }
                throw MCPError.transportError(POSIXError(POSIXErrorCode(rawValue: error) ?? .EIO))
            }
            offset += written
        }
    }

    /// `write(2)` to a pipe whose reader may be gone (a server that died): EPIPE instead of a SIGPIPE that would
    /// end this process (`check-config` and tests do not ignore it). SIGPIPE is blocked on this thread for the
    /// write, and one it raised is taken from the pending set before the mask is restored.
    static func writeWithoutSIGPIPE(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> (Int, Int32) {
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &pipeSignal, &previous)
        let written = Foundation.write(fd, buffer.baseAddress, buffer.count)
        let error = errno
        if written < 0 && error == EPIPE {
            var pending = sigset_t()
            sigpending(&pending)
            if sigismember(&previous, SIGPIPE) == 0 && sigismember(&pending, SIGPIPE) == 1 {
                var none = timespec(tv_sec: 0, tv_nsec: 0)
                _ = sigtimedwait(&pipeSignal, nil, &none)
            }
        }
        pthread_sigmask(SIG_SETMASK, &previous, nil)
        return (written, error)
    }

    /// Pulled one message at a time from the bounded queue (a server cannot queue more than it holds).
    func receive() -> AsyncThrowingStream<Data, any Error> {
        let queue = self.queue
        return AsyncThrowingStream { try await queue.next() }
    }
}
