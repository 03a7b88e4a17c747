import JSONRPC

/// -32602 for an empty or relative source path (relative paths would depend on the server's working directory).
func requireSourcePath(_ path: String) throws {
    guard path.hasPrefix("/") else {
        throw ResponseError.invalidParams("parameter 'sourcePath' must be an absolute path, not \(path.debugDescription)")
    }
}
