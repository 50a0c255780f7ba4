import Journal
import WireFormat
import WorkModel

extension RunDriver {
    /// Why the loop must not send its next request: its budget (`--budget`; a job's covers every attempt) would be
    /// passed. Read from the journal after what was recorded so far is committed, so a restart counts the same.
    /// `upcoming` are the calls of the round about to be answered. `nil` without a budget (nothing is read).
    ///
    /// A request's usage is known once the server reports it: a Responses response's when it completes, an Assistants
    /// run step's only after its outputs are submitted. The next request's input is estimated as at least the last
    /// reported request's tokens (its context goes on), or a first request's message, plus the calls' arguments at
    /// about 4 bytes a token; a budget can therefore be passed by the one request whose usage could not be foreseen.
    func budgetRefusal(state: inout DriveState, upcoming: [ToolCall]) async throws -> String? {
        guard let budget = state.request.budget, !budget.isEmpty else { return nil }
        if !upcoming.isEmpty {
            // A round the journal holds already (a restart inside it) was let through before: it is answered.
            let known = Set(try await journal.toolCalls(runKey: state.runKey).map(\.callID))
            if upcoming.allSatisfy({ known.contains($0.id) }) { return nil }
        }
        try await state.recorder.flush()
        let spent = try await journal.spending(runKey: state.runKey, jobID: state.request.jobID)
        let argumentBytes = upcoming.reduce(0) { $0 + $1.arguments.utf8.count }
        let nextInput = max(spent.lastRequestTokens, Int64((state.request.message?.utf8.count ?? 0) / 4)) + Int64(argumentBytes / 4)
        return budget.exceeded(by: spent, nextInput: nextInput, upcomingCalls: Int64(upcoming.count))
    }
}
