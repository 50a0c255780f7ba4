/// Text from a server, made safe to print on one line of a log or a terminal: control characters (C0, DEL, C1)
/// become visible escapes (`\n`, `\r`, `\t`, `\u{1B}`, …), so a server cannot forge a log line with CR, clear a
/// terminal with ESC sequences or hide text behind NUL.
public enum ControlCharacters {
    /// `text` with every control character escaped; `keepNewlines` leaves LF alone (multi-line terminal output).
    public static func escaped(_ text: String, keepNewlines: Bool = false) -> String {
        guard text.unicodeScalars.contains(where: { isControl($0) && !(keepNewlines && $0 == "\n") }) else { return text }
        var result = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            guard isControl(scalar), !(keepNewlines && scalar == "\n") else {
                result.append(scalar)
                continue
            }
            let replacement: String
            switch scalar {
            case "\n": replacement = "\\n"
            case "\r": replacement = "\\r"
            case "\t": replacement = "\\t"
            default: replacement = "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            }
            result.append(contentsOf: replacement.unicodeScalars)
        }
        return String(result)
    }

    /// C0 (U+0000–U+001F), DEL (U+007F) and C1 (U+0080–U+009F).
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }
}
