import HTTPTransport
import WireFormat
/// Where and how to reach an OpenAI-style server (Assistants v2 or Responses): the configuration every API client shares.
public struct OpenAIClientConfiguration: Sendable {
    /// For example `https://api.openai.com/v1` or `http://127.0.0.1:8080/v1`.
    public var baseURL: String
    /// Sent as `Authorization: Bearer …`; never logged, never stored.
    public var apiKey: String
    public var organization: String?
    public var project: String?
    public var retry = RetryPolicy()
    public var http = HTTPClientConfiguration()
    /// Largest single SSE frame accepted.
    public var maxFrameBytes = 8 * 1024 * 1024
    /// The rate limits this process keeps for its servers, keys and models (shared by every client given the same).
    public var rateLimiter = RateLimiter()

    public static let defaultBaseURL = "https://api.openai.com/v1"

    public init(baseURL: String, apiKey: String, organization: String? = nil, project: String? = nil) {
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.organization = organization
        self.project = project
    }
}
