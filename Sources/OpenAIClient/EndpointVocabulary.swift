/// An API's path words, so that a request's metric label is bounded: the method and the path from the API's first
/// word on, every segment that is not one of its words (an id) replaced by `{id}` (`POST /threads/{id}/runs`).
/// Each API client brings its own; the shared client knows none.
public struct EndpointVocabulary: Sendable {
    /// The words a path starts at (what comes before, such as `/v1`, is left out of the label).
    public let roots: [String]
    /// Every literal segment of the API's paths, roots included.
    public let words: Set<Substring>

    public init(roots: [String], words: [String]) {
        self.roots = roots
        self.words = Set((roots + words).map { Substring($0) })
    }

    /// The label of a request to `url` with `method`; `METHOD /` for a path outside the API's roots.
    public func label(method: String, url: String) -> String {
        var path = Substring(url)
        if let query = path.firstIndex(of: "?") { path = path[..<query] }
        if let scheme = path.range(of: "://") {
            let afterScheme = path[scheme.upperBound...]
            path = afterScheme.firstIndex(of: "/").map { afterScheme[$0...] } ?? "/"
        }
        let segments = path.split(separator: "/")
        guard let start = segments.firstIndex(where: { roots.contains(String($0)) }) else { return "\(method) /" }
        let parts = segments[start...].map { words.contains($0) ? String($0) : "{id}" }
        return "\(method) /\(parts.joined(separator: "/"))"
    }
}
