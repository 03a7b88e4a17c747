import Foundation

/// Splits a byte stream into LSP base-protocol frames: `Content-Length: N\r\n[Content-Type: ...\r\n]\r\n` + N bytes.
///
/// Feed it bytes as they arrive, in pieces of any size (a frame may be split at any byte, and one read may
/// hold many frames), and drain `nextEvent()` until it returns nil.
///
/// Recovery, so that one bad frame never stops the stream:
/// - A header block without a usable `Content-Length` (missing, not a number, two that disagree, a line without
///   `:`, an unsupported charset) is reported as `.badHeader` and dropped; the parser then resynchronises on the
///   next `Content-Length:` it finds.
/// - A header block longer than `maxHeaderBytes` without its closing blank line is treated the same way.
/// - A `Content-Length` above `maxContentLength` is reported as `.oversized`; its body is skipped as it
///   streams past, never buffered.
public struct FrameParser: Sendable {
    /// What the parser found in the bytes fed so far.
    public enum Event: Sendable, Equatable {
        /// A complete body, exactly `Content-Length` bytes.
        case frame(Data)
        /// A header block that could not be used; `reason` says why. The block was skipped.
        case badHeader(reason: String)
        /// A frame whose declared length exceeds the limit; its body is being skipped without being stored.
        case oversized(length: Int, limit: Int)
    }

    /// The largest body accepted, in bytes.
    public let maxContentLength: Int
    /// The largest header block accepted, in bytes.
    public let maxHeaderBytes: Int

    private var buffer: [UInt8] = []
    /// Bytes before `start` are consumed; compacted away lazily so that a read holding many frames costs
    /// one copy, not one per frame.
    private var start = 0
    /// Where the search for the header terminator resumes, so a header split over many reads is scanned once.
    private var scanFrom = 0
    private var state = State.header

    private enum State: Sendable {
        case header
        case body(length: Int)
        case skipping(remaining: Int)
        case resynchronising
    }

    public init(maxContentLength: Int = 64 << 20, maxHeaderBytes: Int = 8192) {
        self.maxContentLength = maxContentLength
        self.maxHeaderBytes = maxHeaderBytes
    }

    /// Appends bytes read from the stream.
    public mutating func append<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeFirst(start)
            scanFrom -= start
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// Bytes received but not yet consumed (a partial header or body).
    public var bufferedByteCount: Int { buffer.count - start }

    /// The next complete event, or nil when more bytes are needed.
    public mutating func nextEvent() -> Event? {
        while true {
            switch state {
            case .skipping(let remaining):
                let available = buffer.count - start
                if available >= remaining {
                    start += remaining
                    state = .header
                    scanFrom = start
                    continue
                }
                start = buffer.count
                scanFrom = start
                state = .skipping(remaining: remaining - available)
                return nil

            case .body(let length):
                guard buffer.count - start >= length else { return nil }
                let body = Data(buffer[start..<start + length])
                start += length
                scanFrom = start
                state = .header
                return .frame(body)

            case .resynchronising:
                guard resynchronise() else { return nil }
                state = .header

            case .header:
                guard let terminator = findHeaderTerminator() else {
                    if buffer.count - start > maxHeaderBytes {
                        start = buffer.count
                        scanFrom = start
                        state = .resynchronising
                        return .badHeader(reason: "header block longer than \(maxHeaderBytes) bytes without a blank line")
                    }
                    return nil
                }
                let headerBytes = buffer[start..<terminator]
                start = terminator + 4
                scanFrom = start
                switch Self.parseHeader(headerBytes) {
                case .success(let length):
                    if length > maxContentLength {
                        state = .skipping(remaining: length)
                        return .oversized(length: length, limit: maxContentLength)
                    }
                    state = .body(length: length)
                case .failure(let reason):
                    state = .resynchronising
                    return .badHeader(reason: reason)
                }
            }
        }
    }

    /// Finds `\r\n\r\n` at or after the header's start; returns the index of its first byte.
    private mutating func findHeaderTerminator() -> Int? {
        var index = max(scanFrom, start)
        let end = buffer.count - 3
        while index < end {
            if buffer[index] == 13 && buffer[index + 1] == 10 && buffer[index + 2] == 13 && buffer[index + 3] == 10 {
                return index
            }
            index += 1
        }
        scanFrom = max(start, buffer.count - 3)
        return nil
    }

    private static let contentLengthName = Array("content-length:".utf8)

    /// Drops bytes up to the next `Content-Length:` (any case). Returns false when none is buffered yet; the
    /// last few bytes are kept in case the name is split across reads.
    private mutating func resynchronise() -> Bool {
        let name = Self.contentLengthName
        var index = start
        while index + name.count <= buffer.count {
            var matched = true
            for offset in 0..<name.count where Self.lowercased(buffer[index + offset]) != name[offset] {
                matched = false
                break
            }
            if matched {
                start = index
                scanFrom = start
                return true
            }
            index += 1
        }
        start = max(start, buffer.count - (name.count - 1))
        scanFrom = start
        return false
    }

    private static func lowercased(_ byte: UInt8) -> UInt8 {
        (byte >= 65 && byte <= 90) ? byte + 32 : byte
    }

    private enum HeaderResult { case success(Int), failure(String) }

    /// Parses a header block (without its terminator) into the body length.
    private static func parseHeader(_ bytes: ArraySlice<UInt8>) -> HeaderResult {
        guard let text = String(bytes: bytes, encoding: .utf8) else {
            return .failure("header block is not valid UTF-8/ASCII")
        }
        var contentLength: Int?
        for line in text.split(separator: "\r\n", omittingEmptySubsequences: false) {
            if line.isEmpty { continue }  // Tolerate stray blank lines left over from a previous frame.
            guard let colon = line.firstIndex(of: ":") else {
                return .failure("header line without ':': \(line.prefix(80).debugDescription)")
            }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            switch name {
            case "content-length":
                guard !value.isEmpty, value.allSatisfy(\.isASCIIDigit), let length = Int(value) else {
                    return .failure("Content-Length is not a non-negative integer: \(value.prefix(40).debugDescription)")
                }
                if let earlier = contentLength, earlier != length {
                    // Which one to believe is a guess either way; a guess that is wrong swallows the next frames.
                    return .failure("conflicting Content-Length headers (\(earlier) and \(length))")
                }
                contentLength = length
            case "content-type":
                if let charset = charset(of: value), charset != "utf-8" && charset != "utf8" {
                    return .failure("unsupported charset \(charset.debugDescription): only utf-8 is accepted")
                }
            default:
                continue  // Unknown headers are allowed and ignored.
            }
        }
        guard let contentLength else { return .failure("header block has no Content-Length") }
        return .success(contentLength)
    }

    /// The lowercased `charset` parameter of a Content-Type value, if any.
    private static func charset(of contentType: String) -> String? {
        for parameter in contentType.split(separator: ";").dropFirst() {
            let parts = parameter.split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces).lowercased() == "charset" {
                return parts[1].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                    .lowercased()
            }
        }
        return nil
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}

/// Frames a body for the wire: `Content-Length: N\r\n\r\n` followed by the body.
public enum FrameEncoder {
    public static func frame(_ body: Data) -> Data {
        var framed = Data("Content-Length: \(body.count)\r\n\r\n".utf8)
        framed.append(body)
        return framed
    }
}
