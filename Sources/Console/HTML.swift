import WireFormat

/// Building HTML from server-supplied text: everything is escaped (`&<>"'`), control characters shown as `\u{…}`
/// rather than passed on, so a model's arguments or a server's message can never become markup or script.
enum HTML {
    /// `text` escaped for an element's content or a quoted attribute.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\n", "\t": out.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029 {
                    out += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// A JSON text pretty-printed when it is JSON, else as it is; escaped.
    static func json(_ text: String) -> String {
        guard let value = try? JSONValue(parsing: Array(text.utf8)) else { return escape(text) }
        return escape(pretty(value, indent: ""))
    }

    private static func pretty(_ value: JSONValue, indent: String) -> String {
        let inner = indent + "  "
        switch value {
        case .object(let object):
            guard !object.isEmpty else { return "{}" }
            return "{\n" + object.map { "\(inner)\(JSONValue.string($0.key).serialized()): \(pretty($0.value, indent: inner))" }.joined(separator: ",\n") + "\n\(indent)}"
        case .array(let array):
            guard !array.isEmpty else { return "[]" }
            return "[\n" + array.map { inner + pretty($0, indent: inner) }.joined(separator: ",\n") + "\n\(indent)]"
        default:
            return value.serialized()
        }
    }

    /// A table of `rows` under `columns`, every cell escaped (`cell` may link or style one).
    static func table(_ columns: [String], _ rows: [[String]], raw: Set<Int> = []) -> String {
        guard !rows.isEmpty else { return "<p class=\"empty\">none</p>" }
        var out = "<table><thead><tr>" + columns.map { "<th>\(escape($0))</th>" }.joined() + "</tr></thead><tbody>"
        for row in rows {
            out += "<tr>" + row.enumerated().map { index, cell in "<td>\(raw.contains(index) ? cell : escape(cell))</td>" }.joined() + "</tr>"
        }
        return out + "</tbody></table>"
    }

    /// A bar chart as inline SVG: one bar per (label, value), labels escaped.
    static func bars(_ title: String, _ points: [(label: String, value: Double)], unit: String) -> String {
        guard !points.isEmpty else { return "<h3>\(escape(title))</h3><p class=\"empty\">no usage yet</p>" }
        let width = 640.0, barHeight = 22.0, labelWidth = 200.0
        let top = max(points.map(\.value).max() ?? 1, 1e-9)
        var svg = "<h3>\(escape(title))</h3><svg class=\"chart\" role=\"img\" aria-label=\"\(escape(title))\" width=\"\(Int(width))\" height=\"\(Int(barHeight * Double(points.count) + 8))\" xmlns=\"http://www.w3.org/2000/svg\">"
        for (index, point) in points.enumerated() {
            let y = Double(index) * barHeight + 4
            let length = max(1, (width - labelWidth - 120) * point.value / top)
            svg += "<text x=\"0\" y=\"\(y + 15)\">\(escape(String(point.label.prefix(28))))</text>"
            svg += "<rect x=\"\(labelWidth)\" y=\"\(y + 3)\" width=\"\(String(format: "%.1f", length))\" height=\"\(barHeight - 6)\"></rect>"
            svg += "<text x=\"\(String(format: "%.1f", labelWidth + length + 6))\" y=\"\(y + 15)\">\(escape(format(point.value))) \(escape(unit))</text>"
        }
        return svg + "</svg>"
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(format: "%.4f", value)
    }
}
