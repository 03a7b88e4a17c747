import Testing

@testable import Bridge

/// Who the bridge lets upgrade to a WebSocket, decided before any upgrade: the path, the token (query or bearer
/// header), the page's origin and the connection cap. Each refusal has its own status, so a client can tell them
/// apart; the end-to-end tests (clients/typescript) check the same statuses on a real socket.
struct AdmissionTests {
    static let own = "http://127.0.0.1:8765"

    static func configuration(origins: [String] = [], maxConnections: Int = 2) -> BridgeConfiguration {
        BridgeConfiguration(
            token: "secret-token", allowedOrigins: origins, maxConnections: maxConnections,
            serverExecutable: "/bin/false", serverArguments: [])
    }

    static func admit(
        _ path: String, authorization: String? = nil, origin: String? = nil,
        configuration: BridgeConfiguration = configuration(), connections: Int = 0
    ) -> BridgeServer.Admission {
        BridgeServer.admission(
            path: path, authorization: authorization, origin: origin, configuration: configuration,
            ownOrigin: own, connections: connections)
    }

    @Test func theTokenComesInTheQueryOrAsABearerAndMustMatchExactly() {
        #expect(Self.admit("/rpc?token=secret-token") == .admit)
        #expect(Self.admit("/rpc", authorization: "Bearer secret-token") == .admit)
        for refused in [
            Self.admit("/rpc"), Self.admit("/rpc?token=secret-toke"), Self.admit("/rpc?token=secret-token2"),
            Self.admit("/rpc", authorization: "secret-token"), Self.admit("/rpc", authorization: "Bearer other"),
        ] {
            guard case .refuse(let status, _) = refused else {
                Issue.record("admitted without the right token")
                continue
            }
            #expect(status == 401)
        }
    }

    @Test func onlyTheEndpointIsUpgraded() {
        #expect(Self.admit("/?token=secret-token") == .refuse(status: 404, message: "the endpoint is /rpc"))
        #expect(Self.admit("/rpc/x?token=secret-token") == .refuse(status: 404, message: "the endpoint is /rpc"))
    }

    @Test func pagesFromOtherOriginsAreRefusedUnlessAllowed() {
        #expect(Self.admit("/rpc?token=secret-token", origin: Self.own) == .admit, "the bridge's own page")
        #expect(Self.admit("/rpc?token=secret-token") == .admit, "a program sends no Origin and is let in on its token")
        #expect(
            Self.admit("/rpc?token=secret-token", origin: "http://evil.example")
                == .refuse(status: 403, message: "origin http://evil.example is not allowed"))
        let allowList = Self.configuration(origins: ["http://editor.local"])
        #expect(Self.admit("/rpc?token=secret-token", origin: "http://editor.local", configuration: allowList) == .admit)
        #expect(
            Self.admit("/rpc?token=secret-token", origin: Self.own, configuration: allowList)
                == .refuse(status: 403, message: "origin \(Self.own) is not allowed"), "an allow-list replaces the default")
        #expect(Self.admit("/rpc?token=secret-token", origin: "http://any", configuration: Self.configuration(origins: ["*"])) == .admit)
    }

    @Test func theCapRefusesOneConnectionMoreAndATokenIsCheckedFirst() {
        #expect(Self.admit("/rpc?token=secret-token", connections: 1) == .admit)
        #expect(
            Self.admit("/rpc?token=secret-token", connections: 2)
                == .refuse(status: 503, message: "the bridge serves at most 2 connections"))
        guard case .refuse(401, _) = Self.admit("/rpc", connections: 2) else {
            Issue.record("a full bridge must not tell a caller without a token that it is full")
            return
        }
    }

    @Test func generatedTokensAreLongAndDifferent() {
        let tokens = Set((0..<100).map { _ in BridgeConfiguration.generateToken() })
        #expect(tokens.count == 100)
        #expect(tokens.allSatisfy { $0.count == 32 && $0.allSatisfy(\.isHexDigit) })
    }
}
