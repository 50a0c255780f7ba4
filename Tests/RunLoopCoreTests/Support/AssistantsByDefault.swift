import RunLoopCore

// The product names a loop's protocol everywhere (no layer below the backends has a default). Most tests drive
// Assistants loops: these overloads name it for the calls that say nothing.

extension RunRequest {
    init(
        assistantID: String, threadID: String? = nil, message: String? = nil, instructions: String? = nil,
        metadata: [String: String] = [:], jobID: Int64? = nil, model: String? = nil, maxRounds: Int? = nil,
        conversationState: ConversationState? = nil
    ) {
        self.init(
            assistantID: assistantID, threadID: threadID, message: message, instructions: instructions, metadata: metadata,
            jobID: jobID, protocolName: AssistantsBackend.descriptor.name, model: model, maxRounds: maxRounds,
            conversationState: conversationState)
    }
}

extension AuditStore {
    func enqueueJob(
        assistantID: String, threadID: String?, message: String?, instructions: String?, metadata: JSONValue?,
        maxAttempts: Int = 3, model: String? = nil, options: JSONValue? = nil
    ) async throws -> Int64 {
        try await enqueueJob(
            assistantID: assistantID, threadID: threadID, message: message, instructions: instructions, metadata: metadata,
            maxAttempts: maxAttempts, protocolName: AssistantsBackend.descriptor.name, model: model, options: options)
    }

    func createRun(assistantID: String, threadID: String?, jobID: Int64?, request: JSONValue, model: String? = nil) async throws -> Int64 {
        try await createRun(
            assistantID: assistantID, threadID: threadID, jobID: jobID, request: request, protocolName: AssistantsBackend.descriptor.name,
            model: model)
    }
}
