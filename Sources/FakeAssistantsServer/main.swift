import FakeAssistants
import Foundation

// fake-assistants: the scripted Assistants v2 server as a process, for the demo and manual trials.
//   fake-assistants [--port N] [--api-key KEY] [--port-file PATH]
// Prints its base URL, serves until killed. Assistant ids select the built-in scenarios:
// asst_text, asst_weather, asst_parallel, asst_two_rounds, asst_failed, asst_expired.
var port = 0
var apiKey = ProcessInfo.processInfo.environment["OPENAI_API_KEY"] ?? "sk-fake-demo-key"
var portFile: String?
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--port": port = arguments.popFirst().flatMap(Int.init) ?? 0
    case "--api-key": apiKey = arguments.popFirst() ?? apiKey
    case "--port-file": portFile = arguments.popFirst()
    default:
        FileHandle.standardError.write(Data("usage: fake-assistants [--port N] [--api-key KEY] [--port-file PATH]\n".utf8))
        exit(64)
    }
}
signal(SIGPIPE, SIG_IGN)
let server = try FakeAssistantsServer(apiKey: apiKey, port: port)
if let portFile { try String(server.port).write(toFile: portFile, atomically: true, encoding: .utf8) }
FileHandle.standardOutput.write(Data("fake Assistants v2 server listening at \(server.baseURL)\n".utf8))
while true { sleep(3600) }
