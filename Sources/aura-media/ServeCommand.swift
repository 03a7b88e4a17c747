import ArgumentParser
import AuraServer
import Foundation
import JSONRPC
import Logging
import Settings

/// `aura-media serve`: speak the protocol on stdin/stdout until `exit` or the end of input.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the JSON-RPC protocol on stdin/stdout (the default).")

    @OptionGroup var common: CommonOptions

    @Option(name: .customLong("max-message-bytes"), help: "Largest accepted message body in bytes.")
    var maxMessageBytes: Int = 64 << 20

    func validate() throws {
        guard maxMessageBytes > 0 else { throw ValidationError("--max-message-bytes must be positive") }
        _ = try common.settings()
    }

    func run() throws {
        MemoryPolicy.apply()
        common.bootstrapLogging()
        let logger = Logger(label: "aura.serve")
        let protocolOutput = StdioTransport.takeOverStandardOutput()
        // A client that stops reading our output (EPIPE) is gone even if it keeps our input open.
        let outputClosed = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let writer = MessageWriter(fileDescriptor: protocolOutput, onClose: { outputClosed.continuation.yield($0) })
        let (settings, settingsFile, loaded) = try common.loadSettings(logger: logger)
        let server = AuraMediaServer(
            settings: settings, client: writer, maxMessageBytes: maxMessageBytes, logger: logger,
            settingsFile: (settingsFile, loaded))
        let dispatcher = Dispatcher(
            methods: server.makeMethodTable(),
            writer: writer,
            hooks: .init(
                shutdown: { await server.shutdown() },
                exit: { code in
                    // What was answered before `exit` (the shutdown response, last notifications) reaches the client
                    // unless it has stopped reading for seconds.
                    writer.output.flush(timeout: 5)
                    Foundation.exit(code)
                },
                requestFinished: { method, seconds, errorCode in
                    server.requestFinished(method: method, seconds: seconds, errorCode: errorCode)
                }),
            logger: Logger(label: "aura.jsonrpc"))
        Task {
            for await reason in outputClosed.stream {
                await dispatcher.outputClosed(reason: reason)
            }
        }
        logger.info("\(AuraMediaServer.name) \(AuraMediaServer.version) serving on stdin/stdout")
        StdioTransport.serve(
            input: STDIN_FILENO, dispatcher: dispatcher, maxContentLength: maxMessageBytes,
            logger: Logger(label: "aura.transport"))
    }
}
