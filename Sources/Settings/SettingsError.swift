/// A setting that cannot be applied: an unknown member, a wrong value. The message names the member by its full
/// path (`settings.maxConcurrentJobs`, `initializationOptions.cacheDirectory`) and says what it accepts; the protocol
/// layer answers it as -32602 with this message.
public struct SettingsError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
