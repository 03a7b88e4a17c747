/// A request: its method name tied to its params and result types, so a handler cannot be registered under one
/// name with another method's types, and a name is written once (the model: swift-tools-protocols'
/// `RequestType`).
public protocol RequestType: Sendable {
    associatedtype Params: Decodable & Sendable
    associatedtype Result: Encodable & Sendable
    static var method: String { get }
}

/// A notification, in either direction: its method name tied to its params type (`Decodable` for the ones the
/// server receives, `Encodable` for the ones it sends).
public protocol NotificationType: Sendable {
    associatedtype Params: Sendable
    static var method: String { get }
}

/// The params of a message that takes none: whatever the client sends is ignored.
public struct NoParams: Decodable, Sendable {
    public init() {}
    public init(from decoder: Decoder) {}
}
