import RunLoopCore

/// The fake server's record of one run: the object it reports and where the script stands.
struct FakeRun {
    var object: JSONObject
    let scenario: Scenario
    var round = 0
    var pendingCallIDs: [String] = []
    var pendingNames: [String: String] = [:]
    var currentStepID: String?
    var stepOrder: [String] = []
    var steps: [String: JSONValue] = [:]
    var outputs: [(name: String, output: String)] = []
    var polls = 0

    var id: String { object["id"]?.stringValue ?? "" }
    var threadID: String { object["thread_id"]?.stringValue ?? "" }
    var status: String { object["status"]?.stringValue ?? "" }
    var expiresAt: Int64? { object["expires_at"]?.intValue }
    var isTerminal: Bool { RunStatus(rawValue: status).isTerminal }

    mutating func set(_ key: String, _ value: JSONValue) { object[key] = value }

    mutating func setStatus(_ status: String) { object["status"] = .string(status) }

    /// The JSON a client sees now.
    var json: JSONValue { .object(object) }
}
