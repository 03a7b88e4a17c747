/// The messages the dispatcher itself handles (LSP's lifecycle and cancellation); a server registers
/// `initialize` and, if it wants, `initialized`, and the dispatcher does the rest.
public enum InitializedNotification: NotificationType {
    public typealias Params = NoParams
    public static let method = "initialized"
}

/// `shutdown`: answered `null` by the dispatcher once the server's shutdown hook has run.
public struct ShutdownRequest: RequestType, ParamsIgnored {
    public typealias Response = JSONValue
    public static let method = "shutdown"
    public init() {}
}

/// `exit`: the process ends, with status 0 after `shutdown` and 1 without.
public enum ExitNotification: NotificationType {
    public typealias Params = NoParams
    public static let method = "exit"
}

/// `$/cancelRequest {id}`: the request is answered -32800 at once and its task cancelled.
public enum CancelRequestNotification: NotificationType {
    public struct Params: Decodable, Sendable {
        public var id: RequestID
    }
    public static let method = "$/cancelRequest"
}
