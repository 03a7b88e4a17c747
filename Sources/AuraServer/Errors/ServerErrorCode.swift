/// The server-defined JSON-RPC error codes (-32000…-32099), one per cause a client may want to handle
/// differently. `protocol/spec.md` lists them; `error.data` carries `{path?, cause}` for the file errors.
public enum ServerErrorCode {
    /// The path does not exist.
    public static let fileNotFound = -32001
    /// The path exists but is not a regular file (a directory, a device, a pipe).
    public static let notARegularFile = -32003
    /// The file cannot be read with the server's permissions.
    public static let permissionDenied = -32004
    /// The file is empty (0 bytes).
    public static let emptyFile = -32005
    /// No demuxer recognises the file, or it holds no streams.
    public static let notMedia = -32006
    /// The container promises data the file does not hold (a cut-off download or copy).
    public static let truncatedMedia = -32007
    /// The file is media but damaged beyond use.
    public static let corruptMedia = -32008
    /// The media is valid but not usable for this request (e.g. an audio-only file as a proxy source).
    public static let unsupportedMedia = -32009
    /// The disk holding the output is full.
    public static let diskFull = -32010
    /// Another input/output failure.
    public static let ioError = -32011
    /// A job id (or source/quality pair) that the server does not know.
    public static let jobNotFound = -32020
    /// The cache directory is unusable (owned by another user, a symlink, not creatable).
    public static let cacheDirectoryRejected = -32021
    /// Proxy generation failed (the message carries libav's reason).
    public static let generationFailed = -32022
}
