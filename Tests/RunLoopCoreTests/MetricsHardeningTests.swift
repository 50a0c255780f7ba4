import Foundation
import Synchronization
import Testing
import RunLoopCore

extension SerialSuites {
@Suite("Metrics: the textfile and the listener under a local attacker and slow clients", .serialized)
struct MetricsHardeningTests {
    @Test("the textfile never follows a symlink planted at a temporary name, and is 0644 whatever the umask")
    func textfileSymlink() throws {
        let dir = TempDirectory()
        let target = dir.path("victim")
        try "precious\n".write(toFile: target, atomically: false, encoding: .utf8)
        let textfile = dir.path("toolworker.prom")
        // The names the old writer used (`<textfile>.<pid>.tmp`), planted for this pid and many others.
        for pid in [getpid()] + (1...64).map(Int32.init) {
            symlink(target, "\(textfile).\(pid).tmp")
        }
        let old = umask(0o077)
        defer { umask(old) }
        for _ in 0..<20 { try MetricsExport.writeAtomically("toolworker_up 1\n", to: textfile) }
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "precious\n", "the symlinks' target is untouched")
        #expect(try String(contentsOfFile: textfile, encoding: .utf8) == "toolworker_up 1\n")
        var info = stat()
        #expect(lstat(textfile, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o644)
        #expect(info.st_mode & S_IFMT == S_IFREG)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.url.path).filter { $0.hasSuffix(".tmp") }
        #expect(leftovers.count == 65, "only the planted links remain: \(leftovers.count)")
    }

    @Test("a client that trickles one byte at a time holds only its own connection: other scrapes are answered")
    func slowClient() async throws {
        let listener = try MetricsListener(host: "127.0.0.1", port: 0) { "toolworker_up 1\n" }
        defer { listener.stop() }
        // Slow clients: connected, sending one byte, then nothing (as if 1 byte / 3 s).
        var slow: [Int32] = []
        for _ in 0..<3 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(listener.port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            #expect(connected == 0)
            _ = send(fd, "G", 1, 0)
            slow.append(fd)
        }
        defer { slow.forEach { close($0) } }
        let port = listener.port
        let answer = try await offPool { try httpGet(port: port, path: "/metrics") }
        #expect(answer.status == 200)
        #expect(answer.body == "toolworker_up 1\n")
        // The slow ones are cut off at the head deadline: their connections end without an answer.
        for fd in slow {
            let closed = try await offPool { () -> Int in
                var buffer = [UInt8](repeating: 0, count: 64)
                return recv(fd, &buffer, buffer.count, 0)
            }
            #expect(closed == 0, "closed by the listener")
        }
    }
}
}
