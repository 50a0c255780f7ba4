/// Something in a delta that the accumulation rules could not place; the rest of the delta still applies.
public struct DeltaAnomaly: Sendable, Equatable, CustomStringConvertible {
    public let key: String
    public let reason: String
    public var description: String { "delta key '\(key)': \(reason)" }
}

/// Limits that keep a hostile delta from allocating without bound.
public enum DeltaLimits {
    /// Largest array `index` a delta may name.
    public static let maxIndex = 65_535
    /// How far past the current end of an array a delta's `index` may reach.
    public static let maxIndexGap = 1_024
}

extension JSONValue {
    /// Merges `delta` into `self` with the rules of the official SDKs' `accumulateDelta`.
    ///
    /// For every key of the delta: absent (or `null`) in `self` → take the delta's value; `index` and `type` →
    /// replace (identity, never summed); string + string → concatenate; number + number → add; object + object →
    /// merge recursively; arrays of primitives → append; arrays of objects → merge each entry into the element
    /// with the same `index` (placed at that index when new). A `null` delta value keeps the current value
    /// (as the Python SDK does); a type mismatch replaces it. Strings and arrays grow in place, so the cost of
    /// a delta is its own size, not the size of what was accumulated so far.
    ///
    /// - Returns: anomalies found (entries without a valid `index`, indices beyond ``DeltaLimits``); empty normally.
    @discardableResult
    public mutating func accumulate(_ delta: JSONValue) -> [DeltaAnomaly] {
        var anomalies: [DeltaAnomaly] = []
        accumulate(delta, key: "", anomalies: &anomalies)
        return anomalies
    }

    private mutating func accumulate(_ delta: JSONValue, key: String, anomalies: inout [DeltaAnomaly]) {
        guard case .object(let deltaObject) = delta else {
            self = delta
            return
        }
        guard case .object(var object) = self else {
            self = delta
            return
        }
        self = .null  // drop our reference so `object` is uniquely owned and grows in place
        for (deltaKey, deltaValue) in deltaObject {
            let found = object.modifyValue(forKey: deltaKey) { current in
                JSONValue.mergeField(deltaKey, into: &current, deltaValue, anomalies: &anomalies)
            }
            if !found { object[deltaKey] = deltaValue }
        }
        self = .object(object)
    }

    private static func mergeField(
        _ key: String, into current: inout JSONValue, _ delta: JSONValue, anomalies: inout [DeltaAnomaly]
    ) {
        if case .null = current { current = delta; return }
        if case .null = delta { return }
        if key == "index" || key == "type" { current = delta; return }
        // Switch on the delta only: a tuple of (current, delta) would hold a second reference to the current
        // value and turn every append below into a full copy (quadratic cost on long answers).
        switch delta {
        case .string(let suffix):
            guard case .string(var text) = current else { current = delta; return }
            current = .null
            text += suffix
            current = .string(text)
        case .int(let b):
            switch current {
            case .int(let a):
                let (sum, overflow) = a.addingReportingOverflow(b)
                current = overflow ? .double(Double(a) + Double(b)) : .int(sum)
            case .double(let a): current = .double(a + Double(b))
            default: current = delta
            }
        case .double(let b):
            guard let a = current.doubleValue, !current.isBool else { current = delta; return }
            current = .double(a + b)
        case .object:
            guard case .object = current else { current = delta; return }
            current.accumulate(delta, key: key, anomalies: &anomalies)
        case .array(let entries):
            guard case .array(var array) = current else { current = delta; return }
            current = .null
            mergeArray(&array, entries, key: key, anomalies: &anomalies)
            current = .array(array)
        case .bool, .null:
            current = delta
        }
    }

    private static func mergeArray(
        _ array: inout [JSONValue], _ entries: [JSONValue], key: String, anomalies: inout [DeltaAnomaly]
    ) {
        let allPrimitive = array.allSatisfy(\.isPrimitive) && entries.allSatisfy(\.isPrimitive)
        if allPrimitive {
            array.append(contentsOf: entries)
            return
        }
        for entry in entries {
            guard case .object(let object) = entry else {
                anomalies.append(DeltaAnomaly(key: key, reason: "array entry is not an object: \(entry)"))
                continue
            }
            guard let rawIndex = object["index"]?.intValue, rawIndex >= 0 else {
                anomalies.append(DeltaAnomaly(key: key, reason: "array entry has no non-negative integer 'index'"))
                continue
            }
            guard rawIndex <= DeltaLimits.maxIndex, rawIndex < array.count + DeltaLimits.maxIndexGap else {
                anomalies.append(DeltaAnomaly(key: key, reason: "index \(rawIndex) is out of bounds"))
                continue
            }
            let index = Int(rawIndex)
            if index < array.count {
                if array[index].isNull {
                    array[index] = entry
                } else {
                    array[index].accumulate(entry, key: key, anomalies: &anomalies)
                }
            } else {
                while array.count < index { array.append(.null) }
                array.append(entry)
            }
        }
    }

    var isBool: Bool {
        if case .bool = self { return true }
        return false
    }

    /// Strings, numbers, booleans and null.
    var isPrimitive: Bool {
        switch self {
        case .array, .object: return false
        default: return true
        }
    }
}
