import Foundation
import JSONRPC
import TestSupport
import Testing

/// The server against `protocol/openrpc.json`: the method list, real results, notifications and error codes.
@Suite(.timeLimit(.minutes(10)))
struct ContractEndToEndTests {
    @Test func capabilitiesListExactlyTheDocumentsMethodsAndNotifications() async throws {
        let document = try OpenRPCDocument.load()
        let server = try ServerProcess()
        let result = try await server.initialize()
        let methods = result["capabilities"]?["methods"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(methods == methods.sorted(), "methods are sorted")
        #expect(Set(methods).count == methods.count, "no duplicates: \(methods)")
        #expect(Set(methods).subtracting(document.methodNames).sorted() == [], "served but not documented")
        #expect(Set(document.methodNames).subtracting(methods).sorted() == [], "documented but not served")
        let server2client = document.notificationNames.filter { document.direction(of: $0) == "serverToClient" }
        let client2server = document.notificationNames.filter { document.direction(of: $0) == "clientToServer" }
        let sent = result["capabilities"]?["notifications"]?["server"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let accepted = result["capabilities"]?["notifications"]?["client"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(Set(sent) == Set(server2client), "server notifications: \(sent) vs \(server2client)")
        #expect(Set(accepted) == Set(client2server), "client notifications: \(accepted) vs \(client2server)")
        // Every documented request really exists: none is answered "method not found".
        for method in document.methodNames where method != "initialize" && method != "shutdown" {
            let response = try await server.request(method, [:])
            #expect(response.errorCode != -32601, "\(method): \(response)")
        }
        // errorCodes name every server-defined code of the spec.
        let codes = result["capabilities"]?["errorCodes"]
        let expected: [String: Int] = [
            "fileNotFound": -32001, "notARegularFile": -32003, "permissionDenied": -32004, "emptyFile": -32005,
            "notMedia": -32006, "truncatedMedia": -32007, "corruptMedia": -32008, "unsupportedMedia": -32009,
            "diskFull": -32010, "ioError": -32011, "jobNotFound": -32020, "cacheDirectoryRejected": -32021,
            "generationFailed": -32022,
        ]
        #expect(codes == .object(expected.mapValues { .int($0) }))
    }

    /// Every method of the document, every one of its params given each wrong JSON type (and null): each is answered
    /// -32602 with a sentence, never another code. Params that are an array get -32602 too (methods that take none
    /// ignore them); params that are not structured at all get -32600 (JSON-RPC 2.0 §4.2). The server keeps serving.
    @Test func wrongTypesForEveryParamOfEveryMethodAreInvalidParams() async throws {
        let document = try OpenRPCDocument.load()
        let server = try ServerProcess()
        _ = try await server.initialize()
        let samples: [String: JSONValue] = [
            "string": .string("x"), "number": .double(1.5), "integer": .int(7), "boolean": .bool(true),
            "array": .array([.int(1)]), "object": .object(["a": .int(1)]),
        ]
        var sent: [(id: Int, what: String, code: Int?)] = []
        for method in document.methodNames where !["initialize", "shutdown"].contains(method) {
            let takesParams = document.method(method)?["params"]?.arrayValue?.isEmpty == false
            for (notAnObject, code) in [(JSONValue.array([]), takesParams ? -32602 : nil), (.string("params"), -32600), (.int(3), -32600)] {
                let id = server.makeId()
                server.send(["id": .int(id), "method": .string(method), "params": notAnObject])
                sent.append((id, "\(method) params \(notAnObject)", code))
            }
            guard case .array(let params)? = document.method(method)?["params"] else { continue }
            for param in params {
                guard case .string(let name)? = param["name"], case .string(let type)? = param["schema"]?["type"] else { continue }
                let wrong = samples.filter { key, _ in key != type && !(type == "number" && key == "integer") }.map(\.value) + [.null]
                for value in wrong where !(value == .null && param["required"] != .bool(true)) {
                    let id = server.sendRequest(method, [name: value])
                    sent.append((id, "\(method).\(name) = \(value)", -32602))
                }
            }
        }
        for (id, what, code) in sent {
            let answer = try await server.response(id, timeout: .seconds(60))
            if let code {
                #expect(answer.errorCode == code && !answer.errorMessage.isEmpty, "\(what): \(answer)")
            } else {
                #expect(answer["result"] != nil, "\(what): \(answer)")
            }
        }
        #expect(sent.count > 150)
        #expect(try await server.call("ping")["serverTime"] != nil)
    }

    @Test func realResultsAndNotificationsConformToTheDocument() async throws {
        let document = try OpenRPCDocument.load()
        let clip = try await ProxyE2E.copy(MediaFixtures.shortClip(), as: "contract-clip.mp4")
        let server = try ServerProcess()
        var results: [(String, JSONValue)] = []
        func check(_ method: String, _ params: [String: JSONValue] = [:], timeout: Duration = .seconds(30)) async throws -> JSONValue {
            let result = try await server.call(method, params, timeout: timeout)
            results.append((method, result))
            return result
        }
        let initialized = try await server.initialize()
        results.append(("initialize", initialized))
        _ = try await check("ping")
        _ = try await check("ping", ["echo": .object(["n": .int(1)]), "delayMilliseconds": .int(50), "workDoneToken": .string("ping-1")])
        _ = try await check("probe", ["path": .string(clip.path)])
        _ = try await check("getSettings")
        _ = try await check("stats")
        _ = try await check("status", ["sourcePath": .string(clip.path)])
        _ = try await check("resolve", ["sourcePath": .string(clip.path)])
        let background = try await check("generate", ["sourcePath": .string(clip.path), "quality": .string("Draft")])
        _ = try await check("generate", ["sourcePath": .string(clip.path), "quality": .string("Draft")])  // joins or is completed
        let jobId = try #require(background["jobId"])
        try await ProxyE2E.waitForEnd(server, token: jobId)
        _ = try await check(
            "generate",
            [
                "sourcePath": .string(clip.path), "backgroundGeneration": .bool(false),
                "workDoneToken": .int(7),
            ], timeout: .seconds(60))
        _ = try await check("status", ["sourcePath": .string(clip.path), "quality": .string("Draft")])
        _ = try await check("stats")
        _ = try await check("resolve", ["sourcePath": .string(clip.path)])
        _ = try await check("setQuality", ["mode": .string("source")])
        _ = try await check("resolve", ["sourcePath": .string(clip.path)])
        _ = try await check("setQuality", ["mode": .string("proxy"), "quality": .string("High")])
        _ = try await check("cancelGeneration", ["jobId": jobId])
        // Waveforms: cold with streamed windows, warm with windows in the response (both encodings), an export.
        let waveformParams: [String: JSONValue] = [
            "sourcePath": .string(clip.path), "startTime": .int(0), "endTime": .int(2),
            "samplesPerPixel": .int(512), "windowSeconds": .double(0.5),
        ]
        var streamed = waveformParams
        streamed["partialResultToken"] = .string("wave-1")
        streamed["visibleStart"] = .double(1)
        _ = try await check("requestWaveformRange", streamed)
        var inline = waveformParams
        inline["channels"] = .string("all")
        _ = try await check("requestWaveformRange", inline)
        inline["encoding"] = .string("base64")
        _ = try await check("requestWaveformRange", inline)
        let exported = MediaFixtures.temporaryDirectory(named: "contract-export").appendingPathComponent("clip.json")
        _ = try await check("exportWaveform", ["sourcePath": .string(clip.path), "outputPath": .string(exported.path), "format": .string("json")])
        // Frames: inline in each format, a file, from the cache; a playhead to preload from.
        _ = try await check("requestFrame", ["sourcePath": .string(clip.path), "time": .double(0.5), "width": .int(160)])
        _ = try await check("requestFrame", ["sourcePath": .string(clip.path), "time": .double(0.5), "width": .int(160)])
        _ = try await check(
            "requestFrame",
            [
                "sourcePath": .string(clip.path), "time": .int(1), "height": .int(90),
                "format": .string("png"), "delivery": .string("file"),
            ])
        _ = try await check(
            "requestFrame",
            [
                "sourcePath": .string(clip.path), "time": .double(1.5), "width": .int(32),
                "format": .string("rgba"), "accurate": .bool(false),
            ])
        server.notify("setPlayhead", ["sourcePath": .string(clip.path), "time": .double(0.2), "rate": .int(1)])
        _ = try await check("stats")
        _ = try await check("clearCache", ["scope": .string("all")])
        _ = try await check("updateSettings", ["settings": .object(["cacheLimitBytes": .int(1 << 30)])])
        let shutdown = try await server.request("shutdown")
        #expect(shutdown["result"] == .null)

        for (method, result) in results {
            #expect(document.validateResult(of: method, result) == [], "\(method): \(result)")
        }
        #expect(results.count == 29)

        // Every notification of the session matches its schema; job progress matches the job schemas.
        let notifications = server.messages.filter { $0["method"] != nil && $0["id"] == nil }
        #expect(notifications.contains { $0["method"] == .string("$/progress") })
        #expect(notifications.contains { $0["method"] == .string("previewModeChanged") })
        for notification in notifications {
            let method = try #require(notification["method"]?.stringValue)
            #expect(document.direction(of: method) == "serverToClient", "\(method) is not a documented server notification")
            #expect(document.validateNotification(method, notification["params"] ?? .null) == [], "\(notification)")
        }
        for token in [jobId, .int(7)] {
            let values = ProxyE2E.progress(server, token: token)
            #expect(values.first?["kind"] == .string("begin") && values.last?["kind"] == .string("end"), "\(token): \(values)")
            #expect(ProxyE2E.jobProgressProblems(values, document) == [])
        }
        let windows = ProxyE2E.progress(server, token: .string("wave-1"))
        #expect(windows.count == 4, "one partial result per window: \(windows.count)")
        for value in windows {
            #expect(document.validate(value, against: "WaveformPartialResult") == [], "\(value)")
        }
        let pingValues = ProxyE2E.progress(server, token: .string("ping-1"))
        for value in pingValues {
            let schema =
                ["begin": "WorkDoneProgressBegin", "report": "WorkDoneProgressReport", "end": "WorkDoneProgressEnd"][value["kind"]?.stringValue ?? ""]
                ?? "?"
            #expect(document.validate(value, against: schema) == [], "\(value)")
        }
        #expect(pingValues.count == 12)
    }

    @Test func logMessagesConformToTheDocument() async throws {
        let document = try OpenRPCDocument.load()
        let file = try MediaFixtures.file("contract-cache-file-\(UUID().uuidString.prefix(6))", bytes: Data("x".utf8))
        let server = try ServerProcess(cacheDirectory: file.path)
        _ = try await server.initialize()
        let refused = try await server.request("stats")
        #expect(refused.errorCode == -32021 && refused["error"]?["data"]?["cause"] == .string("notADirectory"), "\(refused)")
        let log = try await server.waitFor(timeout: .seconds(5)) { $0["method"] == .string("window/logMessage") }
        #expect(document.validateNotification("window/logMessage", log["params"] ?? .null) == [])
        #expect(log["params"]?["type"] == .int(2))
        #expect(log["params"]?["message"]?.stringValue?.contains(file.path) == true)
    }

    @Test func errorsUseCodesTheDocumentListsForTheirMethod() async throws {
        let document = try OpenRPCDocument.load()
        let clip = try await MediaFixtures.shortClip()
        let audio = try await ProxyE2E.audioOnly()
        let directory = MediaFixtures.temporaryDirectory(named: "contract-dir")
        let empty = try MediaFixtures.file("contract-empty.mp4", bytes: Data())
        let text = try MediaFixtures.file("contract-text.mp4", bytes: Data("not a video at all\n".utf8))
        let portrait = try await ProxyE2E.portrait()
        let server = try ServerProcess()
        _ = try await server.initialize()
        let cases: [(method: String, params: [String: JSONValue], code: Int)] = [
            ("ping", ["delayMilliseconds": .int(-1)], -32602),
            ("probe", ["path": .string("/no/such.mp4")], -32001),
            ("probe", ["path": .string(directory.path)], -32003),
            ("probe", ["path": .string(empty.path)], -32005),
            ("probe", ["path": .string(text.path)], -32006),
            ("probe", ["path": .string("")], -32602),
            ("generate", ["sourcePath": .string(audio.path)], -32009),
            ("generate", ["sourcePath": .string("/no/such.mp4")], -32001),
            ("generate", ["sourcePath": .string(text.path)], -32006),
            ("generate", ["sourcePath": .string(clip.path), "quality": .string("Best")], -32602),
            ("status", ["sourcePath": .string("/no/such.mp4")], -32001),
            ("status", ["sourcePath": .string(directory.path)], -32003),
            ("resolve", ["sourcePath": .string("/no/such.mp4")], -32001),
            ("cancelGeneration", ["jobId": .string("job-unknown")], -32020),
            ("cancelGeneration", ["sourcePath": .string(clip.path)], -32020),
            ("cancelGeneration", [:], -32602),
            ("clearCache", ["scope": .int(3)], -32602),
            ("setQuality", [:], -32602),
            ("updateSettings", ["settings": .object(["maxConcurrentJobs": .int(0)])], -32602),
            ("updateSettings", ["settings": .object(["cacheDirectory": .string(empty.path)])], -32021),
            ("updateSettings", ["settings": .object(["waveformCacheDirectory": .string("relative")])], -32602),
            ("requestWaveformRange", ["sourcePath": .string(clip.path), "startTime": .int(0), "endTime": .int(1)], -32602),
            (
                "requestWaveformRange",
                [
                    "sourcePath": .string(clip.path), "startTime": .int(9), "endTime": .int(10),
                    "samplesPerPixel": .int(256),
                ], -32602
            ),
            (
                "requestWaveformRange",
                [
                    "sourcePath": .string(clip.path), "startTime": .int(0), "endTime": .int(1),
                    "samplesPerPixel": .int(0),
                ], -32602
            ),
            (
                "requestWaveformRange",
                [
                    "sourcePath": .string(portrait.path), "startTime": .int(0), "endTime": .int(1),
                    "samplesPerPixel": .int(256),
                ], -32009
            ),
            (
                "requestWaveformRange",
                [
                    "sourcePath": .string(text.path), "startTime": .int(0), "endTime": .int(1),
                    "samplesPerPixel": .int(256),
                ], -32006
            ),
            (
                "requestWaveformRange",
                [
                    "sourcePath": .string("/no/such.wav"), "startTime": .int(0), "endTime": .int(1),
                    "samplesPerPixel": .int(256),
                ], -32001
            ),
            ("exportWaveform", ["sourcePath": .string(clip.path), "outputPath": .string(directory.path)], -32003),
            ("exportWaveform", ["sourcePath": .string(clip.path), "outputPath": .string("/no/such/dir/x.dat")], -32001),
            ("exportWaveform", ["sourcePath": .string(clip.path), "outputPath": .string("/tmp/x.dat"), "bits": .int(12)], -32602),
            ("requestFrame", ["sourcePath": .string(clip.path), "time": .int(-1)], -32602),
            ("requestFrame", ["sourcePath": .string(clip.path), "time": .int(60)], -32602),
            ("requestFrame", ["sourcePath": .string(clip.path), "time": .int(1), "width": .int(0)], -32602),
            ("requestFrame", ["sourcePath": .string(clip.path), "time": .int(1), "format": .string("gif")], -32602),
            ("requestFrame", ["sourcePath": .string(clip.path), "time": .int(1), "quality": .int(101)], -32602),
            ("requestFrame", ["sourcePath": .string(clip.path), "time": .int(1), "delivery": .string("email")], -32602),
            ("requestFrame", ["sourcePath": .string(audio.path), "time": .int(1)], -32009),
            ("requestFrame", ["sourcePath": .string("/no/such.mp4"), "time": .int(1)], -32001),
            ("requestFrame", ["sourcePath": .string(text.path), "time": .int(1)], -32006),
            ("requestFrame", ["sourcePath": .string(directory.path), "time": .int(1)], -32003),
            ("updateSettings", ["settings": .object(["frameCacheBytes": .int(-5)])], -32602),
        ]
        for (method, params, code) in cases {
            let response = try await server.request(method, params)
            let error = try #require(response["error"], "\(method) \(params) should fail: \(response)")
            #expect(response.errorCode == code, "\(method) \(params): \(response)")
            #expect(document.errorCodes(of: method).contains(code), "\(method) may not answer \(code) according to openrpc.json")
            #expect(document.validate(error, against: "ResponseError") == [], "\(error)")
            if (-32099 ... -32000).contains(code) && code != -32002 {
                // Server-defined codes carry `data` with a `cause` (protocol/spec.md §6.2).
                #expect(document.validate(error["data"] ?? .null, against: "ErrorData") == [], "\(method): \(error)")
            }
        }
    }
}
