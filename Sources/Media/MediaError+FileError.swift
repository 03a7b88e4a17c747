import FileErrors

extension MediaError {
    /// A file-layer error (`FileErrors`: fingerprinting, durable writes, locks) in the media vocabulary: the case of
    /// the same name, same path, so the same sentence and, at the protocol edge, the same error code.
    public init(_ error: FileError) {
        switch error {
        case .fileNotFound(let path): self = .fileNotFound(path: path)
        case .notARegularFile(let path): self = .notARegularFile(path: path)
        case .permissionDenied(let path): self = .permissionDenied(path: path)
        case .diskFull(let path): self = .diskFull(path: path)
        case .ioFailure(let path, let reason): self = .ioFailure(path: path, reason: reason)
        }
    }

    /// Runs `body`, naming a file error it throws as `init(_:)` does.
    public static func mapping<T>(_ body: () throws(FileError) -> T) throws(MediaError) -> T {
        do {
            return try body()
        } catch {
            throw MediaError(error)
        }
    }
}
