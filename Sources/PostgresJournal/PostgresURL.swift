import Foundation

/// Masking PostgreSQL URLs for messages and logs, and reading their password file.
public enum PostgresURL {
    /// The URL with any password replaced by `***` (for logs, messages and status lines).
    ///
    /// Written for URLs libpq would refuse too: the user-info password runs from the first `:` after the scheme to
    /// the *last* `@` of the URL (so a `/`, `@` or bad `%`-escape inside it is still masked; a value after that `@`
    /// holding one is masked with it, which errs on the safe side), and every query parameter whose name contains
    /// `password` (`password`, `sslpassword`, repeated ones) is masked.
    public static func masked(_ url: String) -> String {
        guard let scheme = url.range(of: "://") else { return maskQuery(url) }
        var result = url
        if let at = url.lastIndex(of: "@"), at > scheme.upperBound,
            let colon = url[scheme.upperBound..<at].firstIndex(of: ":")
        {
            result = String(url[..<colon]) + ":***" + String(url[at...])
        }
        return maskQuery(result)
    }

    /// Every `…password…=value` query parameter masked.
    private static func maskQuery(_ url: String) -> String {
        guard let question = url.firstIndex(of: "?") else { return url }
        let parameters = url[url.index(after: question)...].split(separator: "&", omittingEmptySubsequences: false).map { pair -> String in
            guard let equals = pair.firstIndex(of: "="), pair[..<equals].lowercased().contains("password") else { return String(pair) }
            return String(pair[...equals]) + "***"
        }
        return String(url[...question]) + parameters.joined(separator: "&")
    }

    /// The URL with its scheme in lower case: libpq takes `postgresql://` and `postgres://` only, and reads anything
    /// else as a database *name*, which its error message then echoes, password and all.
    public static func normalized(_ url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        return url[..<scheme.lowerBound].lowercased() + url[scheme.lowerBound...]
    }

    /// The texts of `url` that must never appear in a message: its passwords as written and %-decoded, and the URL
    /// itself.
    static func secrets(of url: String) -> [String] {
        var found: [String] = [url]
        if let scheme = url.range(of: "://"), let at = url.lastIndex(of: "@"), at > scheme.upperBound,
            let colon = url[scheme.upperBound..<at].firstIndex(of: ":")
        {
            found.append(String(url[url.index(after: colon)..<at]))
        }
        if let question = url.firstIndex(of: "?") {
            for pair in url[url.index(after: question)...].split(separator: "&") {
                guard let equals = pair.firstIndex(of: "="), pair[..<equals].lowercased().contains("password") else { continue }
                found.append(String(pair[pair.index(after: equals)...]))
            }
        }
        found += found.compactMap { $0.removingPercentEncoding }
        return found.filter { $0.count >= 3 }
    }

    /// `message` with every text of `secrets` replaced by `***` (longest first).
    static func scrub(_ message: String, _ secrets: [String]) -> String {
        var message = message
        for secret in secrets.sorted(by: { $0.count > $1.count }) where message.contains(secret) {
            message = message.replacingOccurrences(of: secret, with: "***")
        }
        return message
    }

    /// The longest password file read (a password is short; a larger file is not one).
    static let maximumPasswordFileBytes = 4096

    /// The password in `file`: its first line, without the line break (LF or CRLF).
    ///
    /// Like libpq's `.pgpass`, the file must be a regular file that group and others cannot read or write
    /// (`chmod 600`): a password others can read is refused, not used.
    static func readPassword(file: String) throws -> String {
        func failure(_ reason: String) -> PostgresError {
            PostgresError(sqlState: nil, message: "the password file \(file) \(reason)", context: "connecting")
        }
        var info = stat()
        guard stat(file, &info) == 0 else { throw failure("cannot be read: \(String(cString: strerror(errno)))") }
        guard info.st_mode & S_IFMT == S_IFREG else { throw failure("is not a regular file") }
        guard info.st_mode & 0o077 == 0 else {
            throw failure(String(format: "is readable or writable by group or others (mode %04o): chmod 600 it", info.st_mode & 0o7777))
        }
        guard info.st_size <= maximumPasswordFileBytes else { throw failure("is larger than \(maximumPasswordFileBytes) bytes: not a password file") }
        guard let data = FileManager.default.contents(atPath: file) else { throw failure("cannot be read") }
        var line = data.prefix { $0 != UInt8(ascii: "\n") }
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        guard !line.contains(0), let password = String(data: Data(line), encoding: .utf8) else {
            throw failure("does not hold a UTF-8 password without NUL bytes")
        }
        return password
    }
}
