import CLibPQ
import Foundation
import Journal

/// One libpq connection speaking the journal's SQL: `?` placeholders become `$1…`, values travel as text,
/// results come back as ``SQLValue``s by column type. Statements run often are prepared once per connection.
///
/// A connection that broke (the server restarted, a fail-over) is re-established before the next transaction;
/// the transaction that was open is lost and reported as failed, like any failed commit.
///
/// Not `Sendable`: a connection belongs to the one thread of the journal worker that opened it.
public final class PostgresConnection: JournalConnection {
    private var handle: OpaquePointer
    public let location: String
    public var dialect: SQLDialect { .postgres }
    public private(set) var changes = 0
    /// Prepared statement names by SQL text (with `?` placeholders).
    private var prepared: [String: String] = [:]
    /// Statements whose placeholders were rewritten, by SQL text.
    private var rewritten: [String: String] = [:]
    /// A read-only session: a statement that failed because the connection broke is retried once on a new one.
    private let readOnly: Bool
    /// The URL's passwords (and the password file's): never part of an error message.
    private let secrets: [String]

    /// Connects to `url` (`postgres://user@host:port/db?sslmode=…`); the password comes from `passwordFile` (the file's
    /// first line), else from libpq's own sources (`PGPASSFILE`, `~/.pgpass`, `PGPASSWORD`).
    public init(url: String, passwordFile: String? = nil, readOnly: Bool = false) throws {
        location = PostgresURL.masked(url)
        self.readOnly = readOnly
        guard !url.contains("\0") else {
            throw PostgresError(sqlState: nil, message: "the database URL contains a NUL byte", context: "connecting to \(location)")
        }
        let url = PostgresURL.normalized(url)
        var keywords = ["dbname", "application_name", "connect_timeout"]
        var values = [url, "toolworker", "10"]
        var secrets = PostgresURL.secrets(of: url)
        if let passwordFile {
            let password = try PostgresURL.readPassword(file: passwordFile)
            keywords.append("password")
            values.append(password)
            if password.count >= 3 { secrets.append(password) }
        }
        self.secrets = secrets
        // The URL's own parameters (expand_dbname) win over the defaults listed after it only where libpq says so:
        // dbname is expanded first, later keywords override. Keep the URL's connect_timeout when it sets one.
        if url.contains("connect_timeout=") {
            keywords.remove(at: 2)
            values.remove(at: 2)
        }
        let connection = PostgresConnection.connect(keywords: keywords, values: values)
        guard let connection, PQstatus(connection) == CONNECTION_OK else {
            let message = connection.map { PostgresConnection.trimmed(PQerrorMessage($0)) } ?? "out of memory"
            if let connection { PQfinish(connection) }
            throw PostgresError(sqlState: nil, message: PostgresURL.scrub(message, secrets), context: "connecting to \(location)")
        }
        handle = connection
        try executeScript(sessionSettings)
    }

    deinit {
        PQfinish(handle)
    }

    /// What every session (the first, and each after a reconnect) is set to.
    private var sessionSettings: String {
        "SET client_encoding = 'UTF8'; SET TIME ZONE 'UTC'; SET lock_timeout = '30s'"
            + (readOnly ? "; SET default_transaction_read_only = on" : "")
    }

    private static func connect(keywords: [String], values: [String]) -> OpaquePointer? {
        let keywordPointers = keywords.map { strdup($0) } + [nil]
        let valuePointers = values.map { strdup($0) } + [nil]
        defer {
            keywordPointers.forEach { free($0) }
            valuePointers.forEach { free($0) }
        }
        return keywordPointers.map { UnsafePointer($0) }.withUnsafeBufferPointer { keys in
            valuePointers.map { UnsafePointer($0) }.withUnsafeBufferPointer { vals in
                PQconnectdbParams(keys.baseAddress, vals.baseAddress, 1)
            }
        }
    }

    static func trimmed(_ text: UnsafePointer<CChar>?) -> String {
        text.map { String(cString: $0) }?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown error"
    }

    /// The server's version as libpq reports it (for example 150010 for 15.10).
    public var serverVersion: Int { Int(PQserverVersion(handle)) }

    // MARK: JournalConnection

    public var isInTransaction: Bool {
        let status = PQtransactionStatus(handle)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE
    }

    /// `BEGIN`; when the connection turns out to be broken (the server restarted, a fail-over, the session was
    /// terminated) nothing has run yet, so it reconnects and begins once more.
    public func beginWrite() throws {
        try reconnectIfBroken()
        do {
            try executeScript("BEGIN")
        } catch where PQstatus(handle) != CONNECTION_OK {
            try reconnectIfBroken()
            try executeScript("BEGIN")
        }
    }

    public func executeScript(_ sql: String) throws {
        if !isInTransaction { try reconnectIfBroken() }
        let result = PQexec(handle, sql)
        defer { PQclear(result) }
        try check(result, context: "executing \(sql.prefix(80))")
        changes = Int(String(cString: PQcmdTuples(result))) ?? 0
    }

    @discardableResult
    public func query(_ sql: String, _ parameters: [SQLValue]) throws -> [SQLRow] {
        do {
            return try run(sql, parameters)
        } catch where readOnly && PQstatus(handle) != CONNECTION_OK {
            // Reads change nothing: try once more on a new connection.
            return try run(sql, parameters)
        }
    }

    private func run(_ sql: String, _ parameters: [SQLValue]) throws -> [SQLRow] {
        if !isInTransaction { try reconnectIfBroken() }
        let name = try statementName(for: sql, parameterCount: parameters.count)
        return try withParameters(parameters) { values, count in
            let result = PQexecPrepared(handle, name, count, values, nil, nil, 0)
            defer { PQclear(result) }
            try check(result, context: "running \(sql.prefix(120))")
            changes = Int(String(cString: PQcmdTuples(result))) ?? 0
            return PostgresConnection.rows(result)
        }
    }

    /// `COPY … FROM STDIN` in text format: the rows travel as one buffer, with no statement to parse or plan, in
    /// one round trip (what a batch of events costs).
    public func insertRows(into table: String, columns: [String], rows: [[SQLValue]]) throws {
        guard !rows.isEmpty else { return }
        let context = "copying \(rows.count) rows into \(table)"
        let start = PQexec(handle, "COPY \(table) (\(columns.joined(separator: ", "))) FROM STDIN")
        let status = start.map(PQresultStatus) ?? PGRES_FATAL_ERROR
        if status != PGRES_COPY_IN {
            defer { PQclear(start) }
            try check(start, context: context)
            throw PostgresError(sqlState: nil, message: "the server did not start COPY", context: context)
        }
        PQclear(start)
        var buffer: [UInt8] = []
        buffer.reserveCapacity(rows.count * 256)
        for row in rows {
            for (index, value) in row.enumerated() {
                if index > 0 { buffer.append(UInt8(ascii: "\t")) }
                PostgresConnection.appendCopyText(value, to: &buffer)
            }
            buffer.append(UInt8(ascii: "\n"))
        }
        let sent = buffer.withUnsafeBufferPointer { bytes in
            bytes.baseAddress!.withMemoryRebound(to: CChar.self, capacity: bytes.count) { PQputCopyData(handle, $0, Int32(bytes.count)) }
        }
        let ended = sent == 1 ? PQputCopyEnd(handle, nil) : PQputCopyEnd(handle, "toolworker could not send the rows")
        var failure: (any Error)?
        while let result = PQgetResult(handle) {
            if failure == nil, sent != 1 || ended != 1 || PQresultStatus(result) != PGRES_COMMAND_OK {
                do { try check(result, context: context) } catch { failure = error }
                if failure == nil {
                    failure = PostgresError(sqlState: nil, message: PostgresURL.scrub(PostgresConnection.trimmed(PQerrorMessage(handle)), secrets), context: context)
                }
            }
            PQclear(result)
        }
        if let failure { throw failure }
    }

    /// A value in PostgreSQL's text format (`nil` for NULL): numbers as literals, bytea as `\\x` hex, text with NUL
    /// (which PostgreSQL text cannot hold) as U+FFFD. Parameters and COPY rows both use it.
    static func textForm(_ value: SQLValue) -> String? {
        switch value {
        case .null: return nil
        case .integer(let number): return String(number)
        case .real(let number): return number.isFinite ? "\(number)" : (number.isNaN ? "NaN" : (number > 0 ? "Infinity" : "-Infinity"))
        case .text(let text): return text.utf8.contains(0) ? text.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") : text
        case .blob(let bytes): return "\\x" + bytes.map { String(format: "%02x", $0) }.joined()
        }
    }

    /// One value in COPY's text format: `\N` for NULL, else its text form with backslash, tab, newline and carriage
    /// return escaped.
    static func appendCopyText(_ value: SQLValue, to buffer: inout [UInt8]) {
        guard let text = textForm(value) else {
            buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "N")])
            return
        }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\t"): buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case UInt8(ascii: "\n"): buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\r"): buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            default: buffer.append(byte)
            }
        }
    }

    // MARK: Plumbing

    /// A broken connection outside a transaction is re-established (prepared statements are then gone).
    private func reconnectIfBroken() throws {
        guard PQstatus(handle) != CONNECTION_OK else { return }
        PQreset(handle)
        prepared.removeAll()
        guard PQstatus(handle) == CONNECTION_OK else {
            throw PostgresError(
                sqlState: nil, message: PostgresURL.scrub(PostgresConnection.trimmed(PQerrorMessage(handle)), secrets),
                context: "reconnecting to \(location)")
        }
        try executeScript(sessionSettings)
    }

    private func statementName(for sql: String, parameterCount: Int) throws -> String {
        if let name = prepared[sql] { return name }
        let text = rewritten[sql] ?? PostgresConnection.numberPlaceholders(sql)
        rewritten[sql] = text
        let name = "tw\(prepared.count + 1)"
        let result = PQprepare(handle, name, text, 0, nil)
        defer { PQclear(result) }
        try check(result, context: "preparing \(sql.prefix(120))")
        prepared[sql] = name
        return name
    }

    private func check(_ result: OpaquePointer?, context: String) throws {
        let status = result.map(PQresultStatus) ?? PGRES_FATAL_ERROR
        guard status != PGRES_COMMAND_OK, status != PGRES_TUPLES_OK else { return }
        let state = result.flatMap { PQresultErrorField($0, Int32(UInt8(ascii: "C"))) }.map { String(cString: $0) }
        let primary = result.flatMap { PQresultErrorField($0, Int32(UInt8(ascii: "M"))) }.map { String(cString: $0) }
        throw PostgresError(
            sqlState: state, message: PostgresURL.scrub(primary ?? PostgresConnection.trimmed(PQerrorMessage(handle)), secrets), context: context)
    }

    /// Calls `body` with the parameters as C strings (text format; `NULL` for `.null`). PostgreSQL text cannot hold
    /// NUL: a NUL character is stored as U+FFFD (the one byte SQLite keeps and PostgreSQL cannot).
    private func withParameters<T>(_ parameters: [SQLValue], _ body: (UnsafePointer<UnsafePointer<CChar>?>?, Int32) throws -> T) throws -> T {
        let strings: [UnsafeMutablePointer<CChar>?] = parameters.map { PostgresConnection.textForm($0).map { strdup($0) } ?? nil }
        defer { strings.forEach { free($0) } }
        return try strings.map { UnsafePointer($0) }.withUnsafeBufferPointer { buffer in
            try body(buffer.baseAddress, Int32(parameters.count))
        }
    }

    /// Rewrites `?` placeholders as `$1, $2, …`, leaving quoted text, identifiers and comments alone.
    static func numberPlaceholders(_ sql: String) -> String {
        var output = ""
        output.reserveCapacity(sql.utf8.count + 16)
        var number = 0
        var quote: Character?
        var lineComment = false
        var previous: Character = " "
        for character in sql {
            if lineComment {
                if character == "\n" { lineComment = false }
            } else if let open = quote {
                if character == open { quote = nil }
            } else if character == "'" || character == "\"" {
                quote = character
            } else if character == "-" && previous == "-" {
                lineComment = true
            } else if character == "?" {
                number += 1
                output += "$\(number)"
                previous = character
                continue
            }
            output.append(character)
            previous = character
        }
        return output
    }

    /// The rows of a result, typed by column: integers, floating and numeric values, booleans as 0/1, bytea as
    /// bytes, everything else as text.
    static func rows(_ result: OpaquePointer?) -> [SQLRow] {
        guard let result else { return [] }
        let rowCount = PQntuples(result)
        let columnCount = PQnfields(result)
        guard rowCount > 0 else { return [] }
        let columns = (0..<columnCount).map { String(cString: PQfname(result, $0)) }
        let types = (0..<columnCount).map { PQftype(result, $0) }
        var rows: [SQLRow] = []
        rows.reserveCapacity(Int(rowCount))
        for row in 0..<rowCount {
            var values: [SQLValue] = []
            values.reserveCapacity(Int(columnCount))
            for column in 0..<columnCount {
                if PQgetisnull(result, row, column) == 1 {
                    values.append(.null)
                    continue
                }
                let length = Int(PQgetlength(result, row, column))
                let pointer = PQgetvalue(result, row, column)!
                let text = String(decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self)
                values.append(value(text, type: types[Int(column)]))
            }
            rows.append(SQLRow(columns: columns, values: values))
        }
        return rows
    }

    private static func value(_ text: String, type: Oid) -> SQLValue {
        switch type {
        case 20, 21, 23, 26: return Int64(text).map(SQLValue.integer) ?? .text(text)  // int8, int2, int4, oid
        case 1700: return Int64(text).map(SQLValue.integer) ?? Double(text).map(SQLValue.real) ?? .text(text)  // numeric
        case 700, 701: return Double(text).map(SQLValue.real) ?? .text(text)  // float4, float8
        case 16: return .integer(text == "t" ? 1 : 0)  // bool
        case 17:  // bytea, hex format
            var bytes: [UInt8] = []
            var digits = text.utf8.dropFirst(2).makeIterator()
            while let high = digits.next(), let low = digits.next() {
                bytes.append(UInt8(hex(high) << 4 | hex(low)))
            }
            return .blob(bytes)
        default: return .text(text)
        }
    }

    private static func hex(_ digit: UInt8) -> UInt8 {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        default: digit &- UInt8(ascii: "A") &+ 10
        }
    }
}
