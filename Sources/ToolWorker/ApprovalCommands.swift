import ArgumentParser
import Foundation
import RunLoopCore

/// `toolworker approvals`: the calls waiting for a person's word, with their arguments.
struct ApprovalsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approvals", abstract: "List tool calls waiting for approval (approve or deny them by call id).")

    @OptionGroup var options: ConfigOption
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        try await guarded {
            let history = JournalHistory(try openHistory(try options.load()))
            printRows(try history.waitingApprovals(), json: json)
        }
    }
}

/// `toolworker approve CALL` / `toolworker deny CALL --reason …`: one decision, journaled with who and when; the
/// first decision stands.
struct DecisionOptions: ParsableArguments {
    @OptionGroup var options: ConfigOption
    @Argument(help: "The call id (from toolworker approvals).") var call: String
    @Option(help: "The run (or response) id, when the call id alone is not unique.") var run: String?

    /// Records `decision` on the one pending call named; exit 64 when there is none or more than one, 1 when it was
    /// decided already.
    func decide(_ decision: ApprovalDecision, reason: String?) async throws {
        let config = try options.load()
        let store = try openStore(config)
        defer { store.close() }
        let pending = try await store.pendingApprovals().filter { $0.callID == call }
        var candidates = pending
        if let run {
            let key = try await store.run(runID: run)?.key
            candidates = pending.filter { $0.runKey == key }
        }
        guard candidates.count == 1, let target = candidates.first else {
            throw CommandFailure(
                message: candidates.isEmpty
                    ? "no call \(call) is waiting for approval\(run.map { " in run \($0)" } ?? "") (toolworker approvals lists them)"
                    : "call id \(call) waits in \(candidates.count) runs: give --run",
                code: ExitStatus.usage)
        }
        let who = Self.approver()
        guard try await store.decideApproval(runKey: target.runKey, callID: call, decision: decision, by: who, reason: reason) else {
            throw CommandFailure(message: "call \(call) was decided meanwhile; the first decision stands", code: 1)
        }
        print("\(call): \(decision.rawValue) by \(who)")
    }

    /// Who decides: the name the passwd database gives this process's real uid (`alice (uid 1000)`), or the uid
    /// alone; never `$USER`, which anyone can set.
    static func approver() -> String {
        let uid = getuid()
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name.map({ String(cString: $0) }), !name.isEmpty else { return "uid \(uid)" }
        return "\(name) (uid \(uid))"
    }
}

struct ApproveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "approve", abstract: "Approve a tool call waiting for approval.")
    @OptionGroup var decision: DecisionOptions
    @Option(help: "Why (journaled with the approval).") var reason: String?
    func run() async throws { try await guarded { try await decision.decide(.approved, reason: reason) } }
}

struct DenyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "deny", abstract: "Deny a tool call waiting for approval; the model is told why.")
    @OptionGroup var decision: DecisionOptions
    @Option(help: "Why (sent to the model with the denial).") var reason: String
    func validate() throws {
        guard !reason.isEmpty else { throw ValidationError("deny needs a --reason that is not empty (the model is told it)") }
    }
    func run() async throws { try await guarded { try await decision.decide(.denied, reason: reason) } }
}
