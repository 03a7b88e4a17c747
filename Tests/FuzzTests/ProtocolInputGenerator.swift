import Foundation
import TestSupport

/// Seeded, structured hostile input for the protocol: each input is a few pieces, each one a kind of trouble the
/// issue names (truncated headers, bad lengths, invalid UTF-8, deep nesting, huge numbers, wrong param types,
/// batches, random and mutated bytes) or a well-formed frame around hostile JSON.
struct ProtocolInputGenerator {
    struct Input {
        var bytes: [UInt8]
        /// Whether every piece ended on a frame boundary, so that a frame appended after it must be read and answered.
        var aligned: Bool
    }

    var random: SplitMix64

    init(seed: UInt64) {
        random = SplitMix64(seed: seed)
    }

    mutating func next() -> Input {
        var input = Input(bytes: [], aligned: true)
        for _ in 0..<Int.random(in: 1...3, using: &random) {
            let (piece, aligned) = piece()
            input.bytes += piece
            input.aligned = input.aligned && aligned
        }
        return input
    }

    // MARK: - Pieces

    private mutating func piece() -> ([UInt8], aligned: Bool) {
        switch Int.random(in: 0..<100, using: &random) {
        case 0..<30: return (frame(Array(message().utf8)), true)
        case 30..<38: return (frame(Array(batch().utf8)), true)
        case 38..<46: return (frame(invalidUTF8Body()), true)
        case 46..<52: return (frame(Array(deepNesting().utf8)), true)
        case 52..<60: return (badHeader(), true)
        case 60..<66: return (badLength(), false)
        case 66..<72: return (truncatedHeader(), false)
        case 72..<78: return (randomBytes(), false)
        case 78..<90: return (mutated(frame(Array(message().utf8))), false)
        case 90..<95: return (oversized(), true)
        default: return (frame(Array(jsonValue(depth: 0).utf8)), true)
        }
    }

    private func frame(_ body: [UInt8], header: String? = nil) -> [UInt8] {
        Array((header ?? "Content-Length: \(body.count)\r\n\r\n").utf8) + body
    }

    /// A request or notification to a fuzz method, a lifecycle method or an unknown one, with params that mostly
    /// have the wrong shape.
    private mutating func message() -> String {
        let methods = [
            "fuzz/echo", "fuzz/echo", "fuzz/echo", "fuzz/slow", "fuzz/fail", "fuzz/note", "initialize", "shutdown",
            "exit", "$/cancelRequest", "$/setTrace", "no/such/method", "", "fuzz/echo\u{0}",
        ]
        var members: [String] = []
        if Int.random(in: 0..<10, using: &random) > 0 { members.append(#""jsonrpc":"2.0""#) } else { members.append(#""jsonrpc":\#(scalar())"#) }
        switch Int.random(in: 0..<10, using: &random) {
        case 0..<6: members.append(#""id":\#(Int.random(in: -3...50, using: &random))"#)
        case 6: members.append(#""id":"\#(Int.random(in: 0...9, using: &random))""#)
        case 7: members.append(#""id":\#(jsonValue(depth: 2))"#)
        default: break  // a notification
        }
        let method = methods.randomElement(using: &random)!
        if Int.random(in: 0..<20, using: &random) > 0 {
            members.append(#""method":\#(quoted(method))"#)
        } else {
            members.append(#""method":\#(scalar())"#)
        }
        switch Int.random(in: 0..<10, using: &random) {
        case 0: break
        case 1: members.append(#""params":\#(jsonValue(depth: 1))"#)
        case 2: members.append(#""params":{"id":\#(Int.random(in: 0...50, using: &random))}"#)
        default: members.append(#""params":\#(echoParams())"#)
        }
        if Int.random(in: 0..<15, using: &random) == 0 { members.append(#""result":\#(scalar())"#) }
        members.shuffle(using: &random)
        return "{" + members.joined(separator: ",") + "}"
    }

    /// `fuzz/echo`'s params with each member right, wrong-typed, missing, or joined by an unknown one.
    private mutating func echoParams() -> String {
        let fields: [(String, String)] = [
            ("path", quoted("/media/clip \u{1F3AC}\n\"q\".mp4")), ("count", "3"), ("ratio", "0.5"), ("flag", "true"),
            ("mode", #""accurate""#), ("tags", #"["a","b"]"#), ("range", #"{"start":1,"end":2,"channels":[0,1]}"#),
            ("limit", "9007199254740993"), ("priority", "-3"), ("microseconds", "1"), ("value", "2.5"),
        ]
        var members: [String] = []
        for (name, right) in fields {
            switch Int.random(in: 0..<6, using: &random) {
            case 0: continue
            case 1, 2: members.append("\(quoted(name)):\(jsonValue(depth: 2))")
            case 3: members.append("\(quoted(name)):\(scalar())")
            default: members.append("\(quoted(name)):\(right)")
            }
        }
        if Int.random(in: 0..<8, using: &random) == 0 { members.append(#""unknown":\#(scalar())"#) }
        if Int.random(in: 0..<10, using: &random) == 0, let first = members.first { members.append(first) }  // a duplicate key
        members.shuffle(using: &random)
        return "{" + members.joined(separator: ",") + "}"
    }

    private mutating func batch() -> String {
        let count = Int.random(in: 0...6, using: &random)
        let elements = (0..<count).map { _ in Int.random(in: 0..<4, using: &random) == 0 ? jsonValue(depth: 1) : message() }
        return "[" + elements.joined(separator: ",") + "]"
    }

    /// Any JSON text, hostile numbers and strings included; deeper values are rarer.
    private mutating func jsonValue(depth: Int) -> String {
        let roll = Int.random(in: 0..<10, using: &random)
        if depth > 3 || roll < 5 { return scalar() }
        let count = Int.random(in: 0...4, using: &random)
        if roll < 7 {
            return "[" + (0..<count).map { _ in jsonValue(depth: depth + 1) }.joined(separator: ",") + "]"
        }
        return "{" + (0..<count).map { _ in "\(quoted(word())):\(jsonValue(depth: depth + 1))" }.joined(separator: ",") + "}"
    }

    private mutating func scalar() -> String {
        let hostile = [
            "1e400", "-1e400", "123456789012345678901234567890", "-9223372036854775809", "9223372036854775807",
            "1.7976931348623157e308", "4.9e-324", "1e-400", "-0", "0.1e1", "NaN", "Infinity", "-", "1.", "01",
            "true", "false", "null", #""""#, #""\u0000""#, #""\ud800""#, #""\udc00\ud800""#, #""\uZZZZ""#,
            #""tab\there""#, "\"\(String(repeating: "x", count: 300))\"", "[]", "{}", "2147483648", "-2147483649",
            "128", "-129", "1e2", "3.0", "0.5",
        ]
        switch Int.random(in: 0..<4, using: &random) {
        case 0: return hostile.randomElement(using: &random)!
        case 1: return String(Int.random(in: Int.min...Int.max, using: &random))
        case 2: return String(Double(bitPattern: random.next()))
        default: return quoted(word())
        }
    }

    private mutating func word() -> String {
        let words = [
            "path", "count", "mode", "fast", "accurate", "id", "method", "params", "jsonrpc", "", " ", "é", "\u{1F600}", "\n", "\"", "\\", "a/b",
        ]
        return words.randomElement(using: &random)!
    }

    private func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A message whose body holds bytes that are not UTF-8 (inside a string, or anywhere).
    private mutating func invalidUTF8Body() -> [UInt8] {
        var body = Array(message().utf8)
        let bad: [[UInt8]] = [[0xFF], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xE2, 0x82], [0x80]]
        let position = Int.random(in: 0...body.count, using: &random)
        body.insert(contentsOf: bad.randomElement(using: &random)!, at: position)
        return body
    }

    private mutating func deepNesting() -> String {
        let depth = [10, 500, 511, 512, 513, 2000, 20_000].randomElement(using: &random)!
        let open = Int.random(in: 0..<2, using: &random) == 0 ? "[" : #"{"a":"#
        let close = open == "[" ? "]" : "}"
        let balanced = Int.random(in: 0..<4, using: &random) > 0
        return #"{"jsonrpc":"2.0","id":1,"method":"fuzz/echo","params":"# + String(repeating: open, count: depth) + "1"
            + String(repeating: close, count: balanced ? depth : depth / 2) + "}"
    }

    /// A complete header block that is unusable, with a body after it.
    private mutating func badHeader() -> [UInt8] {
        let headers = [
            "Content-Length: abc", "Content-Length: -5", "Content-Length: 1.5", "Content-Length:", "Content-Length: 0x10",
            "Content-Length: 99999999999999999999999", "garbage", ": 5", "Content-Type: text/plain; charset=latin1\r\nContent-Length: 2",
            "Content-Length: 5\r\nContent-Length: 7", "content-length 5", "Content-Length: +5", "Content-Length: 5 5",
        ]
        return frame(Array("{}".utf8), header: headers.randomElement(using: &random)! + "\r\n\r\n")
    }

    /// A declared length that does not match the body.
    private mutating func badLength() -> [UInt8] {
        let body = Array(message().utf8)
        let length = max(0, body.count + Int.random(in: -20...20, using: &random))
        return frame(body, header: "Content-Length: \(length)\r\n\r\n")
    }

    private mutating func truncatedHeader() -> [UInt8] {
        let full = Array("Content-Length: 17\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n".utf8)
        return Array(full[0..<Int.random(in: 1..<full.count, using: &random)])
    }

    private mutating func randomBytes() -> [UInt8] {
        (0..<Int.random(in: 1...200, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
    }

    private mutating func mutated(_ bytes: [UInt8]) -> [UInt8] {
        var bytes = bytes
        for _ in 0..<Int.random(in: 1...4, using: &random) where !bytes.isEmpty {
            let position = Int.random(in: 0..<bytes.count, using: &random)
            switch Int.random(in: 0..<4, using: &random) {
            case 0: bytes[position] = UInt8.random(in: 0...255, using: &random)
            case 1: bytes.remove(at: position)
            case 2: bytes.insert(UInt8.random(in: 0...255, using: &random), at: position)
            default: bytes = Array(bytes[0..<position])
            }
        }
        return bytes
    }

    /// A frame over the fuzzer's 4 KiB limit, body included (it is skipped as it streams past).
    private mutating func oversized() -> [UInt8] {
        frame(Array(repeating: UInt8(ascii: "x"), count: Int.random(in: 4097...20_000, using: &random)))
    }
}
