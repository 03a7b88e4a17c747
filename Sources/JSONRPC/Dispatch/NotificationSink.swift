/// Anything that can send notifications to the client: the connection's `MessageWriter`, or a test double.
public protocol NotificationSink: Sendable {
    func send<Notification: NotificationType>(_ notification: Notification.Type, _ params: Notification.Params)
    where Notification.Params: Encodable
}

extension NotificationSink {
    /// Sends `window/logMessage`: server warnings the client should show or record.
    public func logMessage(_ type: MessageType, _ message: String) {
        send(LogMessageNotification.self, LogMessageParams(type: type, message: message))
    }
}
