import WireFormat
import CCurl
import Foundation
import Synchronization

/// One libcurl multi handle driven by one thread: every transfer of an ``HTTPClient`` runs here, so hundreds of
/// concurrent streams cost one thread and one poll loop, not a thread each.
///
/// Other threads talk to the loop only through its inbox (a mutex-protected command list) and a self-pipe that
/// wakes its `poll`; every libcurl handle is created, used and freed on the loop thread alone.
final class CurlMultiLoop: Sendable {
    enum Command: Sendable {
        case add(PreparedRequest, Transfer)
        case resume(Transfer)
        case cancel(Transfer)
        case shutdown
    }

    /// Everything libcurl needs to start a transfer, in Sendable form.
    struct PreparedRequest: Sendable {
        var request: HTTPRequest
        var connectTimeout: Duration
        /// Whole-request limit; `nil` for streams (they are watched by `idleTimeout` instead).
        var totalTimeout: Duration?
        var idleTimeout: Duration
    }

    private let inbox: LoopInbox
    private let nextID = Atomic<Int>(1)

    init() {
        _ = CurlGlobal.initialized
        let inbox = LoopInbox()
        self.inbox = inbox
        let thread = Thread {
            LoopThread(inbox: inbox).run()
        }
        thread.name = "toolworker-curl"
        thread.start()
    }

    func makeTransfer(highWater: Int) -> Transfer {
        Transfer(id: nextID.wrappingAdd(1, ordering: .relaxed).oldValue, highWater: highWater, loop: self)
    }

    func start(_ request: PreparedRequest, _ transfer: Transfer) { send(.add(request, transfer)) }
    func resume(_ transfer: Transfer) { send(.resume(transfer)) }
    func cancel(_ transfer: Transfer) { send(.cancel(transfer)) }

    /// How many transfers are running now.
    var activeTransfers: Int { inbox.activeCount.load(ordering: .relaxed) }

    /// Open transfers past which new ones get ``smallReceiveBuffer``.
    static let manyOpenTransfers = 64
    /// The receive buffer of a transfer started while ``manyOpenTransfers`` are open (libcurl's minimum is 1 KiB).
    static let smallReceiveBuffer = 4096

    /// Stops the loop: every transfer still running fails as cancelled.
    func shutdown() { send(.shutdown) }

    private func send(_ command: Command) {
        inbox.commands.withLock { $0.append(command) }
        var one: UInt8 = 1
        _ = write(inbox.signalFD, &one, 1)
    }
}

/// Commands for the loop thread, and the self-pipe that wakes it.
private final class LoopInbox: Sendable {
    let commands = Mutex<[CurlMultiLoop.Command]>([])
    /// Transfers the loop holds now (for tests and status lines).
    let activeCount = Atomic<Int>(0)
    /// The loop polls this end.
    let wakeFD: Int32
    /// Other threads write a byte here.
    let signalFD: Int32

    init() {
        var fds: [Int32] = [0, 0]
        let status = pipe(&fds)
        precondition(status == 0, "pipe failed: errno \(errno)")
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        wakeFD = fds[0]
        signalFD = fds[1]
    }

    /// The last owner (the client, or the loop thread once it stopped) closes the self-pipe: every client made and
    /// dropped used to leave its two descriptors open for the rest of the process.
    deinit {
        close(wakeFD)
        close(signalFD)
    }
}

/// libcurl's process-wide initialisation, done once, before the first handle.
enum CurlGlobal {
    static let initialized: CURLcode = curl_global_init(tw_curl_global_all())
}

/// The libcurl this process runs with, checked once at start.
public enum CurlLibrary {
    /// The oldest libcurl ToolWorker is tested with the features it uses (multi interface pause/resume, poll).
    public static let minimumVersion = (major: 7, minor: 68, patch: 0)

    /// The version string of the loaded libcurl.
    public static var version: String { String(cString: tw_curl_version_info().pointee.version) }

    /// Initializes libcurl and checks its version.
    /// - Throws: ``LibraryError`` when it cannot be initialized or is too old.
    public static func check() throws(LibraryError) {
        let code = CurlGlobal.initialized
        guard code == CURLE_OK else {
            throw LibraryError(library: "libcurl", problem: "curl_global_init failed: \(String(cString: curl_easy_strerror(code)))")
        }
        let number = Int(tw_curl_version_info().pointee.version_num)
        let minimum = minimumVersion.major << 16 | minimumVersion.minor << 8 | minimumVersion.patch
        guard number >= minimum else {
            throw LibraryError(
                library: "libcurl",
                problem: "version \(version) is older than \(minimumVersion.major).\(minimumVersion.minor).\(minimumVersion.patch)")
        }
    }
}

/// A system library this process needs is missing, broken or too old.
public struct LibraryError: Error, Sendable, CustomStringConvertible {
    public let library: String
    public let problem: String
    public init(library: String, problem: String) {
        self.library = library
        self.problem = problem
    }
    public var description: String { "\(library): \(problem)" }
}

/// The loop thread's own state: the multi handle and every easy handle. Never leaves that thread.
private final class LoopThread {
    struct Active {
        let easy: UnsafeMutableRawPointer
        let transfer: Transfer
        let context: Unmanaged<Transfer>
        let headers: UnsafeMutablePointer<curl_slist>?
        let errorBuffer: UnsafeMutablePointer<CChar>
        let idleTimeout: Duration
    }

    let inbox: LoopInbox
    let multi: UnsafeMutableRawPointer
    var active: [Int: Active] = [:]
    var byEasy: [UnsafeMutableRawPointer: Int] = [:]
    var running = true
    var wakeFD: Int32 { inbox.wakeFD }

    init(inbox: LoopInbox) {
        self.inbox = inbox
        self.multi = curl_multi_init()
    }

    func run() {
        var lastIdleCheck = ContinuousClock.now
        while running {
            for command in inbox.commands.withLock({ commands -> [CurlMultiLoop.Command] in
                defer { commands.removeAll(keepingCapacity: true) }
                return commands
            }) {
                handle(command)
            }
            guard running else { break }
            var stillRunning: Int32 = 0
            curl_multi_perform(multi, &stillRunning)
            collectFinished()
            let now = ContinuousClock.now
            if now - lastIdleCheck >= .milliseconds(100) {
                checkIdle(now: now)
                lastIdleCheck = now
            }
            var wait = curl_waitfd(fd: wakeFD, events: Int16(CURL_WAIT_POLLIN), revents: 0)
            var ready: Int32 = 0
            curl_multi_poll(multi, &wait, 1, active.isEmpty ? 1000 : 100, &ready)
            if wait.revents != 0 {
                var drain = [UInt8](repeating: 0, count: 256)
                while read(wakeFD, &drain, drain.count) > 0 {}
            }
        }
        for id in Array(active.keys) {
            finish(id, .failure(TransportError(kind: .cancelled, curlCode: 0, message: "HTTP client shut down", requestMayHaveBeenSent: true)))
        }
        curl_multi_cleanup(multi)
    }

    func handle(_ command: CurlMultiLoop.Command) {
        switch command {
        case .add(let prepared, let transfer):
            add(prepared, transfer)
        case .resume(let transfer):
            guard let entry = active[transfer.id] else { return }
            transfer.didResume()
            curl_easy_pause(entry.easy, tw_curl_pause_cont())
        case .cancel(let transfer):
            if active[transfer.id] != nil {
                finish(transfer.id, .failure(TransportError(kind: .cancelled, curlCode: 0, message: "request cancelled", requestMayHaveBeenSent: true)))
            } else {
                // Not started or already finished: make sure a reader does not wait forever.
                transfer.complete(.failure(TransportError(kind: .cancelled, curlCode: 0, message: "request cancelled", requestMayHaveBeenSent: true)))
            }
        case .shutdown:
            running = false
        }
    }

    func add(_ prepared: CurlMultiLoop.PreparedRequest, _ transfer: Transfer) {
        guard let easy = curl_easy_init() else {
            transfer.complete(.failure(TransportError(kind: .other, curlCode: 0, message: "curl_easy_init failed", requestMayHaveBeenSent: false)))
            return
        }
        let request = prepared.request
        let context = Unmanaged.passRetained(transfer)
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        var headers: UnsafeMutablePointer<curl_slist>?
        for (name, value) in request.headers { headers = curl_slist_append(headers, "\(name): \(value)") }
        // libcurl adds "Expect: 100-continue" to larger POSTs; the API never needs it.
        headers = curl_slist_append(headers, "Expect:")

        tw_curl_setopt_string(easy, CURLOPT_URL, request.url)
        tw_curl_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        tw_curl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, prepared.connectTimeout.milliseconds)
        if let total = prepared.totalTimeout { tw_curl_setopt_long(easy, CURLOPT_TIMEOUT_MS, total.milliseconds) }
        tw_curl_setopt_long(easy, CURLOPT_TCP_KEEPALIVE, 1)
        // libcurl holds a receive buffer per open transfer (16 KiB by default). Past `manyOpenTransfers` open at
        // once (a daemon with many streams) new ones get a small buffer: 2,000 open streams hold ~8 MiB of them
        // instead of 32, while a lone fast stream keeps the large one (fewer, larger reads).
        if active.count >= CurlMultiLoop.manyOpenTransfers {
            tw_curl_setopt_long(easy, CURLOPT_BUFFERSIZE, CurlMultiLoop.smallReceiveBuffer)
        }
        tw_curl_setopt_slist(easy, CURLOPT_HTTPHEADER, headers)
        tw_curl_setopt_pointer(easy, CURLOPT_ERRORBUFFER, errorBuffer)
        tw_curl_setopt_write_function(easy, curlWriteCallback)
        tw_curl_setopt_pointer(easy, CURLOPT_WRITEDATA, context.toOpaque())
        tw_curl_setopt_header_function(easy, curlHeaderCallback)
        tw_curl_setopt_pointer(easy, CURLOPT_HEADERDATA, context.toOpaque())
        switch request.method {
        case .get:
            tw_curl_setopt_long(easy, CURLOPT_HTTPGET, 1)
        case .post, .delete:
            if request.method == .delete { tw_curl_setopt_string(easy, CURLOPT_CUSTOMREQUEST, "DELETE") }
            let body = request.body ?? []
            tw_curl_setopt_long(easy, CURLOPT_POSTFIELDSIZE, body.count)
            // COPYPOSTFIELDS copies the bytes, so the array need not outlive this call.
            var bytes = body
            bytes.append(0)
            bytes.withUnsafeMutableBytes { buffer in
                _ = tw_curl_setopt_pointer(easy, CURLOPT_COPYPOSTFIELDS, buffer.baseAddress)
            }
        }
        active[transfer.id] = Active(
            easy: easy, transfer: transfer, context: context, headers: headers, errorBuffer: errorBuffer,
            idleTimeout: prepared.idleTimeout)
        byEasy[easy] = transfer.id
        inbox.activeCount.store(active.count, ordering: .relaxed)
        transfer.state.withLock { $0.lastActivity = .now }
        curl_multi_add_handle(multi, easy)
    }

    func collectFinished() {
        var remaining: Int32 = 0
        while let message = curl_multi_info_read(multi, &remaining) {
            guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle,
                let id = byEasy[easy], let entry = active[id]
            else { continue }
            let code = message.pointee.data.result
            if code == CURLE_OK {
                finish(id, .success(()))
            } else {
                finish(id, .failure(transportError(code, entry)))
            }
        }
    }

    func transportError(_ code: CURLcode, _ entry: Active) -> TransportError {
        var sent = 0
        tw_curl_getinfo_long(entry.easy, CURLINFO_REQUEST_SIZE, &sent)
        let detail = String(cString: entry.errorBuffer)
        let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
        let kind: TransportError.Kind
        switch code {
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_CONNECT: kind = .couldNotConnect
        case CURLE_OPERATION_TIMEDOUT: kind = .timedOut
        default: kind = .other
        }
        return TransportError(kind: kind, curlCode: Int(code.rawValue), message: message, requestMayHaveBeenSent: sent > 0)
    }

    func checkIdle(now: ContinuousClock.Instant) {
        for (id, entry) in active {
            guard let idle = entry.transfer.idleTime(now: now), idle > entry.idleTimeout else { continue }
            finish(
                id,
                .failure(TransportError(
                    kind: .stalled, curlCode: 0,
                    message: "no data for \(entry.idleTimeout.milliseconds) ms; the stream stalled",
                    requestMayHaveBeenSent: true)))
        }
    }

    func finish(_ id: Int, _ result: Result<Void, TransportError>) {
        guard let entry = active.removeValue(forKey: id) else { return }
        byEasy.removeValue(forKey: entry.easy)
        inbox.activeCount.store(active.count, ordering: .relaxed)
        curl_multi_remove_handle(multi, entry.easy)
        curl_easy_cleanup(entry.easy)
        curl_slist_free_all(entry.headers)
        entry.errorBuffer.deallocate()
        entry.transfer.complete(result)
        entry.context.release()
    }
}

private let curlWriteCallback: curl_write_callback = { data, size, count, userdata in
    guard let userdata else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    let length = size * count
    let accepted = transfer.receiveBody(UnsafeRawBufferPointer(start: data, count: length))
    return accepted ? length : tw_curl_writefunc_pause()
}

private let curlHeaderCallback: curl_write_callback = { data, size, count, userdata in
    guard let userdata, let data else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    let length = size * count
    let line = String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    transfer.receiveHeaderLine(line)
    return length
}
