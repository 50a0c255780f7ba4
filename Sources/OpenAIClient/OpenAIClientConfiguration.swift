import HTTPTransport
import WireFormat
/// Where and how to reach an OpenAI-style server (Assistants v2 or Responses): the configuration every API client shares.
public struct OpenAIClientConfiguration: Sendable {
    /// For example `https://api.openai.com/v1` or `http://127.0.0.1:8080/v1`.
    public var baseURL: String
    /// The keys requests are sent with (`Authorization: Bearer …`), each disabled for a while when the server
    /// refuses it; never logged, never stored.
    public var keys: APIKeyPool
    /// The pool's first key (setting it makes a pool of that one key).
    public var apiKey: String {
        get { keys.keys[0].secret }
        set { keys = APIKeyPool(provider: keys.provider, keys: [APIKeyPool.Key(label: keys.keys[0].label, secret: newValue)]) }
    }
    /// Sent with every request (`providers.NAME.headers`).
    public var headers: [(name: String, value: String)] = []
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
        self.init(baseURL: baseURL, keys: APIKeyPool(provider: "default", keys: [APIKeyPool.Key(label: "default/api_key", secret: apiKey)]),
                  organization: organization, project: project)
    }

    /// A configuration sending with a pool of keys.
    public init(baseURL: String, keys: APIKeyPool, organization: String? = nil, project: String? = nil) {
        self.baseURL = baseURL
        self.keys = keys
        self.organization = organization
        self.project = project
    }
}
