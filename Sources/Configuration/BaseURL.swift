import OpenAIClient
import ToolRunner
import WorkModel
import WireFormat
import Foundation

/// Checks on `api.base_url` (and `$OPENAI_BASE_URL`) before anything is sent or logged.
public enum BaseURL {
    /// Why `url` cannot be the API's base URL, or `nil` when it can: an `http(s)` URL with a host, no user name or
    /// password (a secret that would end up in logs), no query or fragment (paths are appended to it), and no
    /// control characters or spaces.
    public static func problem(_ url: String) -> String? {
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else { return "expected an http:// or https:// URL" }
        guard url.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }) else {
            return "spaces and control characters are not allowed in the URL"
        }
        guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty else {
            return "not a valid URL with a host"
        }
        if components.user != nil || components.password != nil {
            return "credentials in the URL are refused (they would be logged); give the key with api_key_env or api_key_file"
        }
        if components.query != nil { return "a query string is refused: API paths are appended to the base URL" }
        if components.fragment != nil { return "a fragment (#…) is refused: API paths are appended to the base URL" }
        return nil
    }

    /// `url` fit for a log line: any `user:password@` replaced by `***@` and the query dropped.
    public static func masked(_ url: String) -> String {
        guard var components = URLComponents(string: url) else { return "<unparseable URL>" }
        if components.user != nil || components.password != nil {
            components.user = "***"
            components.password = nil
        }
        components.query = nil
        components.fragment = nil
        return components.string ?? "<unparseable URL>"
    }
}

/// HTTP header values taken from configuration.
public enum HeaderValue {
    /// No CR, LF, NUL or other control characters (which would split or end the header): tab and visible text only.
    public static func isSafe(_ value: String) -> Bool {
        value.unicodeScalars.allSatisfy { $0.value == 0x09 || ($0.value >= 0x20 && $0.value != 0x7F) }
    }

    /// A header name: an RFC 9110 token (letters, digits and ``!#$%&'*+-.^_`|~``), not empty.
    public static func isToken(_ name: String) -> Bool {
        !name.isEmpty && name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "!#$%&'*+-.^_`|~".unicodeScalars.contains($0)) }
    }
}
