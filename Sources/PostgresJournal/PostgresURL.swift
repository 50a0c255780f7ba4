import Foundation

/// Masking PostgreSQL URLs for messages and logs, and reading their password file.
public enum PostgresURL {
    /// The URL with any password replaced by `***` (for logs, messages and status lines).
    public static func masked(_ url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let rest = url[scheme.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        guard let at = authority.lastIndex(of: "@") else { return maskQuery(url) }
        let userInfo = authority[..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return maskQuery(url) }
        return maskQuery(String(url[..<colon]) + ":***" + String(url[at...]))
    }

    /// A `password=` query parameter masked too.
    private static func maskQuery(_ url: String) -> String {
        guard let range = url.range(of: "password=", options: .caseInsensitive) else { return url }
        let end = url[range.upperBound...].firstIndex(of: "&") ?? url.endIndex
        return String(url[..<range.upperBound]) + "***" + String(url[end...])
    }

    /// The password in `file`: its first line, without the line break.
    static func readPassword(file: String) throws -> String {
        do {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            return String(text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
                .trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
        } catch {
            throw PostgresError(sqlState: nil, message: "cannot read the password file \(file): \(error.localizedDescription)", context: "connecting")
        }
    }
}
