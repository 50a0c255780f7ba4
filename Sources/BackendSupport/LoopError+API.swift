import OpenAIClient
import Worker

extension LoopError {
    /// An Assistants client failure, in the worker's terms.
    public init(_ error: OpenAIClientError) {
        switch error {
        case .api(let api): self.init(.http(status: api.status), code: api.code, message: api.description)
        case .transport(let transport):
            self.init(.transport(mayHaveBeenSent: transport.requestMayHaveBeenSent), message: "transport error: \(transport)")
        case .invalidResponse: self.init(.invalidResponse, message: error.description)
        case .invalidArgument: self.init(.invalidArgument, message: error.description)
        case .cancelled: self.init(.cancelled, message: "cancelled")
        case .rateLimited(let wait): self.init(.rateLimited(retryAfter: wait.duration), code: "rate_limited", message: error.description)
        }
    }
}

/// A backend over one of the OpenAI-style HTTP clients: its start retries, back-off and stall limit come from the
/// client's configuration.
public protocol HTTPClientBackend: ToolLoopBackend {
    var clientConfiguration: OpenAIClientConfiguration { get }
}

extension HTTPClientBackend {
    public var maxStartRetries: Int { clientConfiguration.retry.maxRetries }
    public var idleTimeout: Duration { clientConfiguration.http.idleTimeout }
    public func retryDelay(attempt: Int) -> Duration { clientConfiguration.retry.delay(attempt: attempt, head: nil) }
}
