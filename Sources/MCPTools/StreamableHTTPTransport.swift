import Foundation
import HTTPTransport
import Logging
import MCP
import WireFormat

/// The MCP Streamable HTTP transport over ToolWorker's libcurl client: every message is a POST to the endpoint;
/// the server answers with one JSON message, an event stream of messages (read as it arrives, on Linux too), or
/// 202 for a notification. The session id the server gives at `initialize` (`Mcp-Session-Id`) and the protocol
/// version it chose go with every later request; disconnecting ends the session (`DELETE`).
///
/// The SDK's own HTTP transport is built on URLSession, which on Linux cannot read an event stream as it
/// arrives; this one reuses the daemon's HTTP stack (its time-outs, its connection cache).
actor StreamableHTTPTransport: Transport {
    nonisolated let logger: Logger
    let url: String
    let headers: [(name: String, value: String)]
    let http: HTTPClient
    private var sessionID: String?
    /// The session the server gave at `initialize` (`Mcp-Session-Id`), if any.
    var currentSessionID: String? { sessionID }
    private var protocolVersion: String?
    /// What the server sent, bounded (a flood pauses its transfer; notifications past a rate are dropped).
    private let queue = MessageQueue()
    /// The event streams being read, by number: each removes itself when its stream ends.
    private var readers: [Int: Task<Void, Never>] = [:]
    private var nextReader = 0

    struct HTTPFailure: Error, CustomStringConvertible {
        var description: String
    }

    init(url: String, headers: [String: String], http: HTTPClient, logger: Logger) {
        self.url = url
        self.headers = headers.sorted { $0.key < $1.key }.map { (name: $0.key, value: $0.value) }
        self.http = http
        self.logger = logger
    }

    func connect() async throws {}

    func disconnect() async {
        for reader in readers.values { reader.cancel() }
        readers = [:]
        if let sessionID {
            _ = try? await http.send(HTTPRequest(method: .delete, url: url, headers: headers + [("Mcp-Session-Id", sessionID)]), limit: 65_536)
        }
        sessionID = nil
        if queue.droppedNotifications > 0 {
            logger.warning("MCP server: notifications dropped (more than 200 a second)", metadata: ["dropped": "\(queue.droppedNotifications)"])
        }
        queue.finish()
    }

    /// Pulled one message at a time from the bounded queue.
    func receive() -> AsyncThrowingStream<Data, any Error> {
        let queue = self.queue
        return AsyncThrowingStream { try await queue.next() }
    }

    func send(_ data: Data) async throws {
        var fields = headers + [("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream")]
        if let sessionID { fields.append(("Mcp-Session-Id", sessionID)) }
        if let protocolVersion { fields.append(("MCP-Protocol-Version", protocolVersion)) }
        let (head, body) = try await http.start(HTTPRequest(method: .post, url: url, headers: fields, body: [UInt8](data)), streaming: true)
        if let id = head.value(of: "Mcp-Session-Id"), !id.isEmpty { sessionID = id }
        guard (200..<300).contains(head.status) else {
            let text = String(decoding: (try? await body.collect(upTo: 4096)) ?? [], as: UTF8.self)
            throw HTTPFailure(description: "the MCP server answered HTTP \(head.status)\(text.isEmpty ? "" : ": \(text.prefix(300))")")
        }
        guard head.status != 202 else {
            body.abort()
            return
        }
        let type = head.value(of: "Content-Type")?.lowercased() ?? ""
        if type.hasPrefix("text/event-stream") {
            let queue = self.queue
            // The stream is read beside the caller: the response (and any request of the server's) arrives on it.
            let number = nextReader
            nextReader += 1
            readers[number] = Task { [weak self] in
                var parser = SSEParser()
                do {
                    for try await chunk in body {
                        for frame in try parser.feed(chunk) where frame.event == nil || frame.event == "message" {
                            guard !frame.data.isEmpty else { continue }
                            await self?.noteVersion(frame.data)
                            await queue.push(Data(frame.data.utf8))
                        }
                    }
                } catch {
                    self?.logger.warning("MCP event stream ended with an error", metadata: ["error": "\(error)"])
                }
                await self?.readerEnded(number)
            }
        } else {
            let bytes = try await body.collect(upTo: 64 << 20)
            guard !bytes.isEmpty else { return }
            noteVersion(String(decoding: bytes, as: UTF8.self))
            await queue.push(Data(bytes))
        }
    }

    private func readerEnded(_ number: Int) { readers[number] = nil }

    /// Keeps the protocol version the server chose in its `initialize` result, for the later requests' header.
    private func noteVersion(_ message: String) {
        guard protocolVersion == nil, message.contains("protocolVersion"), let value = try? JSONValue(parsing: message),
            let version = value["result"]?["protocolVersion"]?.stringValue
        else { return }
        protocolVersion = version
    }
}
