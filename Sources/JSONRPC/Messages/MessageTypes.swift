/// A request: the type is its params (decoded from the message's `params`), names its method once and its
/// `Response`, so a handler cannot be registered under one name with another method's types (the model:
/// swift-tools-protocols' `RequestType`, e.g. `HoverRequest`).
public protocol RequestType: Decodable, Sendable {
    associatedtype Response: Encodable & Sendable
    static var method: String { get }
}

/// A notification, in either direction: its method name tied to its params type (`Decodable` for the ones the
/// server receives, `Encodable` for the ones it sends).
public protocol NotificationType: Sendable {
    associatedtype Params: Sendable
    static var method: String { get }
}

/// A request or params type that takes no params: whatever the client sends is ignored (not even checked to be
/// an object).
public protocol ParamsIgnored: Decodable {
    init()
}

extension ParamsIgnored {
    public init(from decoder: Decoder) { self.init() }
}

/// The params of a notification that takes none: whatever the client sends is ignored.
public struct NoParams: ParamsIgnored, Sendable {
    public init() {}
}
