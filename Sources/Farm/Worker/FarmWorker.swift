import Foundation
import Jobs
import Locking
import Logging
import Media
import Proxies

/// How a worker works.
public struct FarmWorkerOptions: Sendable {
    /// The shared cache folder (as this machine mounts it).
    public var cachePath: String
    /// How many parts it makes at once.
    public var jobs: Int
    /// How long a claim lives without a heartbeat: a worker gone that long loses its parts to others.
    public var lease: Duration
    /// How long an idle worker waits before it looks at the queue again.
    public var idleWait: Duration
    public var pathMappings: [PathMapping]
    /// A part failed this many times fails its proxy.
    public var maxAttempts: Int

    public init(
        cachePath: String, jobs: Int = 1, lease: Duration = .seconds(30), idleWait: Duration = .milliseconds(500),
        pathMappings: [PathMapping] = [], maxAttempts: Int = 3
    ) {
        self.cachePath = cachePath
        self.jobs = max(1, jobs)
        self.lease = lease
        self.idleWait = idleWait
        self.pathMappings = pathMappings
        self.maxAttempts = maxAttempts
    }
}

/// A farm worker (`aura-media worker`): claims parts of ordered proxies in the catalogue, makes them into the shared
/// cache folder, records them, and joins a proxy when its last part lands.
///
/// `drain()` (SIGTERM) stops it claiming: the parts being made are finished and recorded, then `run` returns. A worker
/// killed outright loses its claims when their leases expire, and other workers make those parts. PostgreSQL
/// unreachable: the worker logs it, keeps what it made, and tries again with a growing wait (up to 15 s).
public final class FarmWorker: Sendable {
    public let id: String
    let catalogue: FarmCatalogue
    let maker: ProxyPartMaker
    let options: FarmWorkerOptions
    let logger: Logger
    let settingsKeys: [String]
    /// Set once the worker is asked to stop claiming.
    private let draining = Mutex(false)

    public init(id: String, catalogue: FarmCatalogue, options: FarmWorkerOptions, logger: Logger) throws {
        self.id = id
        self.catalogue = catalogue
        self.options = options
        self.logger = logger
        maker = try ProxyPartMaker(cachePath: options.cachePath, maker: id)
        settingsKeys = ProxyPartMaker.settingsKeys
    }

    /// A worker id unique across machines: host, process and a random suffix.
    public static func makeId() -> String {
        "\(ProcessInfo.processInfo.hostName)-\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
    }

    /// Stops claiming; what is being made is finished.
    public func drain() {
        draining.withLock { $0 = true }
    }

    var isDraining: Bool { draining.withLock { $0 } }

    /// Works until drained.
    public func run() async throws {
        try await withUnreachableRetry("registering") {
            try await self.catalogue.register(
                worker: self.id, host: ProcessInfo.processInfo.hostName, pid: Int(getpid()), jobs: self.options.jobs,
                version: "aura-media, proxies v\(Transcoder.pictureVersion)")
        }
        logger.info("worker \(id) works for \(catalogue.location) in \(options.cachePath), \(options.jobs) at a time")
        await withTaskGroup(of: Void.self) { group in
            let heartbeat = Task { await self.beat() }
            for lane in 0..<options.jobs {
                group.addTask { await self.work(lane: lane) }
            }
            await group.waitForAll()
            heartbeat.cancel()
        }
        try? await catalogue.setState(worker: id, "stopped")
        logger.info("worker \(id) stopped")
    }

    /// Keeps the claims alive every third of a lease.
    private func beat() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: options.lease / 3)
            if Task.isCancelled { return }
            do {
                try await catalogue.heartbeat(worker: id, lease: options.lease)
                if isDraining { try await catalogue.setState(worker: id, "draining") }
            } catch {
                logger.warning("worker \(id): heartbeat failed: \(error)")
            }
        }
    }

    /// One lane: claims and makes parts, one at a time, until drained.
    private func work(lane: Int) async {
        var backoff = Duration.seconds(1)
        while !isDraining {
            do {
                if let (proxyId, order) = try await catalogue.claimJoin(worker: id, lease: options.lease, settingsKeys: settingsKeys) {
                    logger.info("worker \(id) takes over joining proxy #\(proxyId) (its joiner's lease expired)")
                    try await join(proxyId: proxyId, order: order)
                } else if let claim = try await catalogue.claim(worker: id, lease: options.lease, settingsKeys: settingsKeys) {
                    try await make(claim)
                } else {
                    try await Task.sleep(for: options.idleWait)
                }
                backoff = .seconds(1)
            } catch let error as FarmCatalogueUnreachable {
                logger.warning("worker \(id): \(error) Trying again in \(backoff).")
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(15))
            } catch {
                logger.error("worker \(id): \(error)")
                try? await Task.sleep(for: options.idleWait)
            }
        }
    }

    /// Makes a claimed part and records it; joins the proxy when it was the last.
    private func make(_ claim: FarmClaim) async throws {
        let order = claim.order
        let source = PathMapping.apply(options.pathMappings, to: order.sourcePath)
        let what = order.describe(part: claim.part)
        let name = what.isAudio ? "the audio" : "segment \(claim.part) (\(what.start)–\(what.end) s)"
        let takeover = claim.previousWorker.map { ", taken over from \($0) whose lease expired" } ?? ""
        logger.info("worker \(id) makes \(name) of proxy #\(claim.proxyId), \(order.quality) of \(source)\(takeover)")
        let made: ProxyMadePart
        do {
            made = try await BlockingQueue.run { [maker] in
                try maker.make(part: claim.part, of: order, sourcePath: source, isCancelled: { false })
            }
        } catch {
            try await failed(claim, error)
            return
        }
        // Recording waits out an unreachable catalogue: the part is made, and stays this worker's while nobody else
        // has claimed it.
        let joins = try await withUnreachableRetry("recording \(made.fileName)") {
            try await self.catalogue.complete(claim, made: made, worker: self.id, lease: self.options.lease)
        }
        guard let joins else {
            logger.warning("worker \(id) lost its claim on \(name) of proxy #\(claim.proxyId) to another worker: its file goes")
            maker.remove(fileName: made.fileName, of: order)
            return
        }
        logger.info("worker \(id) made \(made.fileName) of proxy #\(claim.proxyId)")
        if joins { try await join(proxyId: claim.proxyId, order: order) }
    }

    /// A part that could not be made: a source that is gone or changed, or a full disk, fails its proxy (its finished
    /// parts are kept); another failure gives the part back, and fails the proxy after `maxAttempts`.
    private func failed(_ claim: FarmClaim, _ error: any Error) async throws {
        let kind = Self.kind(of: error)
        logger.error("worker \(id) could not make part \(claim.part) of proxy #\(claim.proxyId): \(error)")
        if ["fileNotFound", "corrupt", "diskFull", "permissionDenied", "truncated", "notMedia", "unsupported"].contains(kind)
            || claim.attempts >= options.maxAttempts
        {
            try await catalogue.fail(proxyId: claim.proxyId, kind: kind, message: String(describing: error))
        } else {
            try await catalogue.release(claim, worker: id, error: String(describing: error))
        }
    }

    /// Joins a proxy whose parts are all made. Damaged parts go back to the queue.
    private func join(proxyId: Int64, order: ProxyWorkOrder) async throws {
        let parts = try await catalogue.madeParts(proxyId: proxyId)
        let source = PathMapping.apply(options.pathMappings, to: order.sourcePath)
        logger.info("worker \(id) joins the \(parts.count) parts of proxy #\(proxyId)")
        do {
            let file = try await BlockingQueue.run { [maker] in
                try maker.checkSource(source, is: order)
                return try maker.join(order, parts: parts, sourcePath: source, isCancelled: { false })
            }
            _ = try await withUnreachableRetry("recording proxy #\(proxyId)") {
                try await self.catalogue.recordJoined(proxyId: proxyId, file: file, worker: self.id)
            }
            logger.info("worker \(id) joined proxy #\(proxyId): \(file.relativePath), \(file.frameCount) frames")
        } catch let damaged as ProxyPartsDamaged {
            logger.warning("worker \(id): proxy #\(proxyId): \(damaged); they are made again")
            for part in parts where damaged.parts.contains(part.number) { maker.remove(fileName: part.fileName, of: order) }
            try await catalogue.reopen(proxyId: proxyId, parts: damaged.parts, worker: id)
        } catch let error as FarmCatalogueUnreachable {
            throw error
        } catch {
            logger.error("worker \(id) could not join proxy #\(proxyId): \(error)")
            try await catalogue.fail(proxyId: proxyId, kind: Self.kind(of: error), message: String(describing: error))
        }
    }

    /// Retries `body` while the catalogue is unreachable (with a growing wait), unless draining ends it.
    private func withUnreachableRetry<T: Sendable>(_ what: String, _ body: @Sendable () async throws -> T) async throws -> T {
        var backoff = Duration.seconds(1)
        while true {
            do {
                return try await body()
            } catch let error as FarmCatalogueUnreachable {
                logger.warning("worker \(id): \(what): \(error) Trying again in \(backoff).")
                try await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(15))
            }
        }
    }

    /// The error's kind, as the protocol's `cause` names it (`generationFailed` for what is not a media error).
    static func kind(of error: any Error) -> String {
        guard let error = error as? MediaError else { return "generationFailed" }
        switch error {
        case .fileNotFound: return "fileNotFound"
        case .notARegularFile: return "notARegularFile"
        case .permissionDenied: return "permissionDenied"
        case .emptyFile: return "emptyFile"
        case .notMedia: return "notMedia"
        case .truncated: return "truncated"
        case .corrupt: return "corrupt"
        case .unsupported: return "unsupported"
        case .diskFull: return "diskFull"
        case .ioFailure: return "ioFailure"
        case .cancelled: return "cancelled"
        case .ffmpeg: return "generationFailed"
        }
    }
}
