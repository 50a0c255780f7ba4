import FakeAssistants
import Foundation
import RunLoopCore

/// A fake server and a client configured for it, with fast retries so fault tests do not wait long.
struct ClientHarness {
    let server: FakeAssistantsServer
    let client: AssistantsClient

    init(scenarios: [String: Scenario] = [:], configure: (inout OpenAIClientConfiguration) -> Void = { _ in }) throws {
        server = try FakeAssistantsServer(scenarios: scenarios)
        var configuration = OpenAIClientConfiguration(baseURL: server.baseURL, apiKey: server.apiKey)
        configuration.retry = RetryPolicy(maxRetries: 2, baseDelay: .milliseconds(20), maxDelay: .milliseconds(100))
        configuration.http.connectTimeout = .seconds(5)
        // Far beyond any stall a loaded machine causes; the tests about stalls set their own, short one.
        configuration.http.idleTimeout = .seconds(60)
        configure(&configuration)
        client = AssistantsClient(configuration: configuration)
    }

    func requests(_ method: String, pathSuffix: String) -> [ReceivedRequest] {
        server.requests.filter { $0.method == method && $0.path.hasSuffix(pathSuffix) }
    }
}

/// What the command-line tests start from: a folder with the `weather.sh` handler (it answers "sunny"), a fake server,
/// and a configuration naming both (`database: tw.db`), with `extra` YAML after the tools.
func commandLineFixture(extra: String = "") throws -> (TempDirectory, FakeAssistantsServer, String) {
    let dir = TempDirectory()
    let server = try FakeAssistantsServer()
    let handler = dir.path("weather.sh")
    try "#!/bin/sh\ncat >/dev/null\necho sunny\n".writeScript(toFile: handler)
    chmod(handler, 0o755)
    let config = dir.path("toolworker.yaml")
    try """
        api: { base_url: "\(server.baseURL)" }
        database: tw.db
        tools:
          get_weather: { command: ["weather.sh"], timeout: 5s }

        """.appending(extra).write(toFile: config, atomically: true, encoding: .utf8)
    return (dir, server, config)
}

/// Reads an event stream to its end (or error), returning the events and the stream.
func readAll(_ response: EventStreamResponse, accumulator: SnapshotAccumulator = SnapshotAccumulator()) async throws
    -> (events: [ServerEvent], stream: AssistantStream<ResponseBody>)
{
    let stream = response.events(accumulator: accumulator)
    var events: [ServerEvent] = []
    for try await element in stream {
        if case .event(let event) = element { events.append(event) }
    }
    return (events, stream)
}
