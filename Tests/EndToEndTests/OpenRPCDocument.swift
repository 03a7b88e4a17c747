import Foundation
import JSONRPC
import Testing

/// `protocol/openrpc.json`, loaded for the end-to-end tests: method and notification names, error codes, and a
/// small JSON Schema validator for params, results and notifications.
///
/// The validator implements exactly the draft-7 subset the document uses: `type` (a name or an array of names),
/// `properties`, `required`, `additionalProperties` (bool or schema), `items`, `enum`, `const`, `oneOf`, `anyOf`,
/// `minimum`, `maximum` and `$ref` to `#/components/...`. Keywords of one schema apply together; a schema without
/// keywords (`{}`) accepts anything. A JSON number without a fraction is an "integer"; "number" accepts both.
///
/// Problems read like `$.streams[0].width: expected integer, got string` (`$` is the validated value's root).
struct OpenRPCDocument {
    /// The whole document.
    let document: JSONValue
    /// Every entry of `methods`, requests and notifications alike, by name.
    private let methodsByName: [String: JSONValue]

    enum LoadError: Error { case notAnOpenRPCDocument(String) }

    /// Loads protocol/openrpc.json, found relative to this source file (Tests/EndToEndTests/ → ../../protocol/).
    static func load(filePath: String = #filePath) throws -> OpenRPCDocument {
        let url = URL(fileURLWithPath: filePath).deletingLastPathComponent()
            .appendingPathComponent("../../protocol/openrpc.json").standardizedFileURL
        let value = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: url))
        guard case .array(let methods)? = value["methods"] else {
            throw LoadError.notAnOpenRPCDocument("\(url.path) has no 'methods' array")
        }
        var byName: [String: JSONValue] = [:]
        for method in methods {
            guard case .string(let name)? = method["name"] else { continue }
            byName[name] = method
        }
        return OpenRPCDocument(document: value, methodsByName: byName)
    }

    /// Request methods (those answered with a response), sorted.
    /// A method's (or notification's) entry in the document.
    func method(_ name: String) -> JSONValue? { methodsByName[name] }

    var methodNames: [String] { methodsByName.filter { !Self.isNotification($0.value) }.keys.sorted() }
    /// Notifications in either direction (`"x-notification": true`), sorted.
    var notificationNames: [String] { methodsByName.filter { Self.isNotification($0.value) }.keys.sorted() }

    /// The value of the extension field `x-direction` of a notification ("serverToClient" or "clientToServer").
    func direction(of notification: String) -> String? {
        if case .string(let direction)? = methodsByName[notification]?["x-direction"] { return direction }
        return nil
    }

    /// Validation problems of a result against the method's result schema; empty = valid.
    func validateResult(of method: String, _ result: JSONValue) -> [String] {
        guard let entry = methodsByName[method], !Self.isNotification(entry) else {
            return ["\(method): no such request method in openrpc.json"]
        }
        guard let schema = entry["result"]?["schema"] else { return ["\(method): the method has no result schema"] }
        return validate(result, schema, path: "")
    }

    /// Validation problems of a request's params object (params are by name); empty = valid.
    func validateParams(of method: String, _ params: JSONValue) -> [String] {
        guard let entry = methodsByName[method], !Self.isNotification(entry) else {
            return ["\(method): no such request method in openrpc.json"]
        }
        return validateNamedParams(entry, params)
    }

    /// Validation problems of a notification's params (in either direction); empty = valid.
    func validateNotification(_ method: String, _ params: JSONValue) -> [String] {
        guard let entry = methodsByName[method], Self.isNotification(entry) else {
            return ["\(method): no such notification in openrpc.json"]
        }
        return validateNamedParams(entry, params)
    }

    /// Validation problems of any value against a shared schema, e.g. `JobProgressReport`; empty = valid.
    func validate(_ value: JSONValue, against schemaName: String) -> [String] {
        validate(value, .object(["$ref": .string("#/components/schemas/\(schemaName)")]), path: "")
    }

    /// The error codes the document lists for a method (references resolved), in document order.
    func errorCodes(of method: String) -> [Int] {
        guard case .array(let errors)? = methodsByName[method]?["errors"] else { return [] }
        return errors.compactMap { error in
            if case .int(let code)? = resolved(error)["code"] { return code }
            return nil
        }
    }

    // MARK: - Params

    private static func isNotification(_ method: JSONValue) -> Bool { method["x-notification"] == .bool(true) }

    /// Checks a params object against the method's content descriptors: required ones present, each present one
    /// valid, no unknown names. Absent params (`null`) count as an empty object.
    private func validateNamedParams(_ method: JSONValue, _ params: JSONValue) -> [String] {
        let members: [String: JSONValue]
        switch params {
        case .null: members = [:]
        case .object(let object): members = object
        default: return ["$: params must be an object (by name), got \(Self.typeName(of: params))"]
        }
        guard case .array(let descriptors)? = method["params"] else { return ["$: the method has no params list"] }
        var problems: [String] = []
        var known = Set<String>()
        for descriptor in descriptors.map(resolved) {
            guard case .string(let name)? = descriptor["name"] else { continue }
            known.insert(name)
            if let value = members[name] {
                problems += validate(value, descriptor["schema"] ?? .object([:]), path: ".\(name)")
            } else if descriptor["required"] == .bool(true) {
                problems.append("$.\(name): missing required parameter")
            }
        }
        for name in members.keys.sorted() where !known.contains(name) {
            problems.append("$.\(name): unknown parameter")
        }
        return problems
    }

    // MARK: - Schemas

    /// Follows `$ref`s (`#/components/...`) until a value without one; an unresolvable reference yields `null`.
    private func resolved(_ value: JSONValue) -> JSONValue {
        var current = value
        for _ in 0..<16 {
            guard case .string(let reference)? = current["$ref"] else { return current }
            guard reference.hasPrefix("#/") else { return .null }
            var target: JSONValue? = document
            for key in reference.dropFirst(2).split(separator: "/") { target = target?[String(key)] }
            guard let target else { return .null }
            current = target
        }
        return .null
    }

    /// Validates `value` against `schema`; `path` is the value's location below the root ("" = root).
    private func validate(_ value: JSONValue, _ rawSchema: JSONValue, path: String) -> [String] {
        if rawSchema["$ref"] != nil, resolved(rawSchema) == .null {
            return ["$\(path): unresolvable reference \(rawSchema["$ref"]!)"]
        }
        let schema = resolved(rawSchema)
        let at = "$\(path)"
        if let expected = schema["type"] {
            let names: [String]
            switch expected {
            case .string(let name): names = [name]
            case .array(let list): names = list.compactMap { if case .string(let name) = $0 { name } else { nil } }
            default: names = []
            }
            if !names.contains(where: { Self.value(value, hasType: $0) }) {
                return ["\(at): expected \(names.joined(separator: " or ")), got \(Self.typeName(of: value))"]
            }
        }
        var problems: [String] = []
        if case .array(let allowed)? = schema["enum"], !allowed.contains(where: { Self.equal($0, value) }) {
            problems.append("\(at): \(Self.render(value)) is not one of \(allowed.map(Self.render).joined(separator: ", "))")
        }
        if let constant = schema["const"], !Self.equal(constant, value) {
            problems.append("\(at): expected \(Self.render(constant)), got \(Self.render(value))")
        }
        if let number = Self.number(value) {
            if let minimum = schema["minimum"].flatMap(Self.number), number < minimum {
                problems.append("\(at): \(Self.render(value)) is below the minimum \(Self.render(schema["minimum"]!))")
            }
            if let maximum = schema["maximum"].flatMap(Self.number), number > maximum {
                problems.append("\(at): \(Self.render(value)) is above the maximum \(Self.render(schema["maximum"]!))")
            }
        }
        if case .object(let members) = value {
            let properties: [String: JSONValue]
            if case .object(let declared)? = schema["properties"] { properties = declared } else { properties = [:] }
            if case .array(let required)? = schema["required"] {
                for case .string(let name) in required where members[name] == nil {
                    problems.append("\(at): missing required member '\(name)'")
                }
            }
            for (name, member) in members.sorted(by: { $0.key < $1.key }) {
                if let property = properties[name] {
                    problems += validate(member, property, path: "\(path).\(name)")
                } else if schema["additionalProperties"] == .bool(false) {
                    problems.append("\(at).\(name): unexpected member")
                } else if let additional = schema["additionalProperties"], additional != .bool(true) {
                    problems += validate(member, additional, path: "\(path).\(name)")
                }
            }
        }
        if case .array(let elements) = value, let items = schema["items"] {
            for (index, element) in elements.enumerated() {
                problems += validate(element, items, path: "\(path)[\(index)]")
            }
        }
        if case .array(let alternatives)? = schema["anyOf"] {
            let results = alternatives.map { validate(value, $0, path: path) }
            if !results.contains(where: \.isEmpty) {
                problems.append("\(at): matches none of the anyOf alternatives")
                problems += results.min(by: { $0.count < $1.count }) ?? []
            }
        }
        if case .array(let alternatives)? = schema["oneOf"] {
            let results = alternatives.map { validate(value, $0, path: path) }
            let matches = results.filter(\.isEmpty).count
            if matches != 1 {
                problems.append("\(at): matches \(matches) of the oneOf alternatives (expected exactly 1)")
                if matches == 0 { problems += results.min(by: { $0.count < $1.count }) ?? [] }
            }
        }
        return problems
    }

    // MARK: - JSON helpers

    /// Whether `value` is of the JSON Schema type `name`.
    private static func value(_ value: JSONValue, hasType name: String) -> Bool {
        switch (name, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object),
            ("number", .int), ("number", .double), ("integer", .int):
            return true
        case ("integer", .double(let number)): return number.isFinite && number.rounded() == number
        default: return false
        }
    }

    /// The JSON Schema type name of a value, for messages ("integer" for numbers without a fraction).
    private static func typeName(of value: JSONValue) -> String {
        if case .double(let number) = value, !(number.isFinite && number.rounded() == number) { return "number" }
        if case .double = value { return "integer" }
        if case .int = value { return "integer" }
        return value.typeName
    }

    private static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .int(let number): return Double(number)
        case .double(let number): return number
        default: return nil
        }
    }

    /// JSON equality, with numbers compared by value (`90` equals `90.0`).
    private static func equal(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool {
        if let left = number(lhs), let right = number(rhs) { return left == right }
        return lhs == rhs
    }

    /// Compact JSON text of a value, for messages.
    private static func render(_ value: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).flatMap { String(data: $0, encoding: .utf8) } ?? "\(value)"
    }
}

/// The document checks itself: every example in it conforms to its own schemas, and the validator catches a
/// wrong type with a readable path.
@Test func openRPCExamplesConformToTheirSchemas() throws {
    let document = try OpenRPCDocument.load()
    #expect(document.methodNames.contains("probe") && document.notificationNames.contains("$/progress"))
    guard case .array(let methods)? = document.document["methods"] else {
        Issue.record("no methods")
        return
    }
    for method in methods {
        guard case .string(let name)? = method["name"], case .array(let examples)? = method["examples"] else { continue }
        for example in examples {
            var params: [String: JSONValue] = [:]
            if case .array(let pairs)? = example["params"] {
                for pair in pairs { if case .string(let key)? = pair["name"] { params[key] = pair["value"] ?? .null } }
            }
            let isNotification = document.notificationNames.contains(name)
            let paramProblems =
                isNotification
                ? document.validateNotification(name, .object(params))
                : document.validateParams(of: name, .object(params))
            #expect(paramProblems.isEmpty, "\(name) example params: \(paramProblems)")
            if let result = example["result"]?["value"] {
                let problems = document.validateResult(of: name, result)
                #expect(problems.isEmpty, "\(name) example result: \(problems)")
            }
        }
    }
    let bad: JSONValue = .object([
        "formatName": .string("mp4"), "sizeBytes": .int(1),
        "streams": .array([
            .object([
                "index": .int(0), "type": .string("video"),
                "codec": .string("h264"), "width": .string("1920"),
                "isAttachedPicture": .bool(false),
            ])
        ]),
    ])
    #expect(document.validateResult(of: "probe", bad) == ["$.streams[0].width: expected integer, got string"])
    #expect(document.errorCodes(of: "probe").contains(-32001))
    let completedWithoutProxy: JSONValue = .object([
        "jobId": .string("job-1"), "status": .string("completed"), "sourcePath": .string("/a.mp4"),
        "quality": .string("Preview"), "progressPercent": .int(100), "joined": .bool(false),
    ])
    #expect(!document.validateResult(of: "generate", completedWithoutProxy).isEmpty)
    let wrongBadge: JSONValue = .object([
        "mode": .string("source"), "quality": .string("Draft"),
        "badge": .object(["label": .string("Proxy Active"), "color": .string("blue")]),
    ])
    #expect(!document.validateResult(of: "setQuality", wrongBadge).isEmpty)
}
