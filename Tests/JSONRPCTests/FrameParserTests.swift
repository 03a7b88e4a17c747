import Foundation
import Testing

@testable import JSONRPC

/// Frames `body` the way a client would.
func framed(_ body: String, extraHeaders: String = "") -> [UInt8] {
    Array("Content-Length: \(body.utf8.count)\r\n\(extraHeaders)\r\n\(body)".utf8)
}

/// Feeds `bytes` in pieces of `pieceSize` and collects every event.
func events(feeding bytes: [UInt8], pieceSize: Int, limit: Int = 1 << 20) -> [FrameParser.Event] {
    var parser = FrameParser(maxContentLength: limit)
    var collected: [FrameParser.Event] = []
    var offset = 0
    while offset < bytes.count {
        let end = min(offset + pieceSize, bytes.count)
        parser.append(bytes[offset..<end])
        while let event = parser.nextEvent() { collected.append(event) }
        offset = end
    }
    return collected
}

func bodies(_ events: [FrameParser.Event]) -> [String] {
    events.compactMap { if case .frame(let data) = $0 { return String(decoding: data, as: UTF8.self) } else { return nil } }
}

@Suite struct FrameParserTests {
    let messages = [
        #"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, #"{"a":"é ü ✓ 𝄞"}"#, "{}", #"{"jsonrpc":"2.0","method":"x","params":{"s":"\r\n\r\n"}}"#,
    ]

    @Test(arguments: [1, 2, 3, 7, 16, 1000])
    func splitReadsAtAnyByteYieldTheSameFrames(pieceSize: Int) {
        let stream = messages.flatMap { framed($0) }
        let got = events(feeding: stream, pieceSize: pieceSize)
        #expect(bodies(got) == messages)
        #expect(got.count == messages.count)
    }

    @Test func manyMessagesInOneRead() {
        let many = (0..<500).map { #"{"jsonrpc":"2.0","id":\#($0),"method":"ping"}"# }
        let got = events(feeding: many.flatMap { framed($0) }, pieceSize: 1 << 20)
        #expect(bodies(got) == many)
    }

    @Test func contentTypeWithEitherCharsetSpellingIsAccepted() {
        let stream =
            framed("{}", extraHeaders: "Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n")
            + framed("[]", extraHeaders: "Content-Type: application/vscode-jsonrpc; charset=utf8\r\n")
            + Array("Content-Type: application/json\r\ncontent-length: 2\r\n\r\n{}".utf8)
        #expect(bodies(events(feeding: stream, pieceSize: 5)) == ["{}", "[]", "{}"])
    }

    @Test func otherCharsetIsRefusedAndTheStreamRecovers() {
        let stream = framed(#"{"x":1}"#, extraHeaders: "Content-Type: text/plain; charset=latin1\r\n") + framed("{}")
        let got = events(feeding: stream, pieceSize: 3)
        #expect(got.contains { if case .badHeader(let reason) = $0 { return reason.contains("latin1") } else { return false } })
        #expect(bodies(got) == ["{}"])
    }

    @Test func missingContentLengthIsSkippedAndTheNextFrameIsFound() {
        let stream = Array("Content-Type: application/json\r\n\r\n{\"lost\":true}".utf8) + framed(#"{"ok":1}"#)
        let got = events(feeding: stream, pieceSize: 4)
        #expect(got.first == .badHeader(reason: "header block has no Content-Length"))
        #expect(bodies(got) == [#"{"ok":1}"#])
    }

    @Test(arguments: [
        "Content-Length: abc", "Content-Length: -5", "Content-Length: 1.5", "Content-Length:", "garbage line",
        "Content-Length: 5\r\nContent-Length: 7", "Content-Length: +5", "Content-Length: 99999999999999999999999",
    ])
    func unusableHeadersAreSkipped(header: String) {
        let stream = Array("\(header)\r\n\r\n{}".utf8) + framed(#"{"next":true}"#)
        let got = events(feeding: stream, pieceSize: 2)
        #expect(got.contains { if case .badHeader = $0 { return true } else { return false } })
        #expect(bodies(got) == [#"{"next":true}"#])
    }

    @Test func aRepeatedContentLengthThatAgreesIsAccepted() {
        let stream = Array("Content-Length: 2\r\ncontent-length: 2\r\n\r\n{}".utf8)
        #expect(bodies(events(feeding: stream, pieceSize: 3)) == ["{}"])
    }

    @Test func hugeLengthIsRefusedWithoutBufferingAndTheStreamContinues() {
        var parser = FrameParser(maxContentLength: 1024)
        parser.append(Array("Content-Length: 5000000000\r\n\r\n".utf8))
        #expect(parser.nextEvent() == .oversized(length: 5_000_000_000, limit: 1024))
        // Stream part of the skipped body: it is dropped as it arrives, never accumulated.
        for _ in 0..<10 {
            parser.append([UInt8](repeating: 65, count: 4096))
            #expect(parser.nextEvent() == nil)
            #expect(parser.bufferedByteCount == 0)
        }
    }

    @Test func oversizedBodyIsSkippedExactly() {
        let big = String(repeating: "x", count: 3000)
        let stream = framed(big) + framed(#"{"after":1}"#)
        let got = events(feeding: stream, pieceSize: 100, limit: 1000)
        #expect(got.first == .oversized(length: 3000, limit: 1000))
        #expect(bodies(got) == [#"{"after":1}"#])
    }

    @Test func endlessHeaderIsCutOff() {
        var parser = FrameParser(maxContentLength: 1024, maxHeaderBytes: 100)
        parser.append(Array(String(repeating: "X-Junk: y\r\n", count: 50).utf8))
        guard case .badHeader(let reason)? = parser.nextEvent() else {
            Issue.record("expected a bad header")
            return
        }
        #expect(reason.contains("longer than 100 bytes"))
        parser.append(framed("{}"))
        #expect(parser.nextEvent() == .frame(Data("{}".utf8)))
    }

    @Test func partialFrameWaitsForMoreBytes() {
        var parser = FrameParser()
        parser.append(Array("Content-Length: 10\r\n\r\n{\"a\":".utf8))
        #expect(parser.nextEvent() == nil)
        #expect(parser.bufferedByteCount == 5)
        parser.append(Array("12}".utf8))
        #expect(parser.nextEvent() == nil)
        parser.append(Array("  ".utf8))
        #expect(parser.nextEvent() == .frame(Data(#"{"a":12}  "#.utf8)))
    }

    @Test func zeroLengthBodyIsAFrame() {
        #expect(bodies(events(feeding: framed(""), pieceSize: 1)) == [""])
    }

    @Test func encoderOutputRoundTrips() {
        let body = Data(#"{"jsonrpc":"2.0","id":"x","result":null}"#.utf8)
        var parser = FrameParser()
        parser.append(FrameEncoder.frame(body))
        #expect(parser.nextEvent() == .frame(body))
    }
}
