import Foundation
import Testing

@testable import JSONRPC

@Suite struct JSONParserTests {
    func parse(_ text: String) throws -> JSONValue { try JSONParser.parse(Data(text.utf8)) }

    @Test func parsesEveryKindOfValue() throws {
        let value = try parse(#" {"a":[1,-2,3.5,1e3,-0.25E-2,true,false,null],"b":{"c":"d"},"e":""} "#)
        #expect(
            value
                == .object([
                    "a": .array([.int(1), .int(-2), .double(3.5), .double(1000), .double(-0.0025), .bool(true), .bool(false), .null]),
                    "b": .object(["c": .string("d")]),
                    "e": .string(""),
                ]))
    }

    @Test func decodesEscapesAndUnicode() throws {
        #expect(try parse(#""tab\tnl\nq\"bs\\sl\/u\u00e9""#) == .string("tab\tnl\nq\"bs\\sl/u\u{e9}"))
        #expect(try parse(#""\ud834\udd1e""#) == .string("𝄞"))
        #expect(try parse("\"é ✓ 𝄞\"") == .string("é ✓ 𝄞"))
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\"}", "{\"a\":1,}", "01", "1.", "-", "tru", "\"unterminated", "\"\\x\"",
        "\"\\ud834\"", "{} {}", "[1 2]", "\"a\u{01}b\"", "NaN", "1e999",
    ])
    func rejectsInvalidJSON(text: String) {
        #expect(throws: JSONParser.SyntaxError.self) { try parse(text) }
    }

    @Test func reportsTheOffsetOfTheError() {
        do {
            _ = try parse(#"{"a": tru}"#)
            Issue.record("expected an error")
        } catch let error as JSONParser.SyntaxError {
            #expect(error.offset == 6)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func refusesDeepNestingInsteadOfOverflowingTheStack() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParser.SyntaxError.self) { try parse(deep) }
        let fine = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        _ = try parse(fine)
    }

    @Test func invalidUTF8IsRefused() {
        var bytes = Array("\"ab".utf8)
        bytes.append(0xFF)
        bytes.append(UInt8(ascii: "\""))
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(Data(bytes)) }
    }
}
