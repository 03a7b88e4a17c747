import FileErrors
import Foundation
import Media
import MediaCache

/// Makes and joins the parts of a `ProxyWorkOrder` in a shared cache folder, for makers that coordinate elsewhere (a
/// farm's workers claim parts in a shared catalogue). The same engine as a local proxy's segments (`Transcoder` parts,
/// `SegmentJoiner`), with the same identity (`ProxySegmentBuild.settingsKey`), in an area of its own (`farm/`) that
/// no local server's janitor sweeps.
///
/// Farm parts are always encoded with libx264: parts of one proxy made on machines with different GPU encoders would
/// not join into one stream (each encoder writes its own parameter sets).
///
/// Blocking; call from a thread of its own, never from the cooperative pool.
public struct ProxyPartMaker: Sendable {
    /// The cache's area for farm work: the proxies' folders of parts and the joined proxies.
    public static let area = "farm"

    public let cache: CacheDirectory
    /// Who makes the parts: part of their file names (`ProxyWorkOrder.fileName`). Letters, digits, `-` and `_`.
    public let maker: String

    /// Opens (creating as needed) the shared cache folder at `cachePath`.
    public init(cachePath: String, maker: String) throws {
        cache = try CacheDirectory.prepare(path: cachePath, areas: [Self.area])
        self.maker = String(maker.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
    }

    /// What a farm proxy of this request is encoded with.
    public static func settings(quality: ProxyQuality, scalePercent: Int?) -> TranscodeSettings {
        ProxyService.transcodeSettings(quality: quality, scalePercent: scalePercent, hardwareAcceleration: .off)
    }

    /// The settings key of a farm proxy of this request.
    public static func settingsKey(quality: ProxyQuality, scalePercent: Int?) -> String {
        ProxySegmentBuild.settingsKey(settings(quality: quality, scalePercent: scalePercent))
    }

    /// Every settings key this version can make parts for (each quality, unscaled and at each `scalePercent` the protocol allows, 25–75): a maker
    /// takes parts of these proxies only, so parts of other versions or settings are never mixed into one proxy.
    public static var settingsKeys: [String] {
        ProxyQuality.allCases.flatMap { quality in
            ([nil] + Array(25...75)).map { settingsKey(quality: quality, scalePercent: $0) }
        }
    }

    /// Plans a proxy of `sourcePath`: its content's fingerprint and its segments. Fails as a local `generate` does for a
    /// source that cannot have a proxy, or (unless `force`) needs none. Blocking (it decodes a few pictures to find the
    /// scan).
    public static func order(sourcePath: String, quality: ProxyQuality, scalePercent: Int?, force: Bool = false) throws -> ProxyWorkOrder {
        let fingerprint = try MediaError.mapping { () throws(FileError) in try SourceFingerprint.of(path: sourcePath) }
        try ProxyService.checkWorthAProxy(
            try MediaProbe.probe(path: sourcePath), path: sourcePath, quality: quality, scalePercent: scalePercent, force: force)
        let plan = try SegmentPlan.make(path: sourcePath)
        return ProxyWorkOrder(
            sourcePath: sourcePath, quality: quality, scalePercent: scalePercent, fingerprint: fingerprint,
            settingsKey: settingsKey(quality: quality, scalePercent: scalePercent), plan: plan)
    }

    private var areaURL: URL { cache.areaURL(Self.area) }

    private func url(_ name: String, in order: ProxyWorkOrder) -> URL {
        areaURL.appendingPathComponent(order.folder, isDirectory: true).appendingPathComponent(name)
    }

    /// Makes part `number` of `order` from the source at `sourcePath` (this machine's path to it): checks that it is
    /// the ordered content, encodes into a partial file, and installs it by fsync and rename. The caller records it.
    public func make(
        part number: Int, of order: ProxyWorkOrder, sourcePath: String, isCancelled: @escaping () -> Bool,
        progress: (Double) -> Void = { _ in }
    ) throws -> ProxyMadePart {
        precondition(number >= 0 && number < order.partCount, "no part \(number)")
        try checkSource(sourcePath, is: order)
        let folder = areaURL.appendingPathComponent(order.folder, isDirectory: true)
        if mkdir(folder.path, 0o755) != 0 && errno != EEXIST { throw MediaError(DurableFile.error(path: folder.path)) }
        let name = order.fileName(ofPart: number, maker: maker)
        let final = url(name, in: order)
        let partial = url(name + ".partial", in: order)
        defer { unlink(partial.path) }
        let part: TranscodePart = number < order.plan.segments.count ? .video(order.plan.segments[number], of: order.plan) : .audio
        let transcoder = Transcoder(
            sourcePath: sourcePath, outputPath: partial.path, settings: Self.settings(quality: order.quality, scalePercent: order.scalePercent),
            part: part)
        let result = try transcoder.run(progress: { progress($0.percent / 100) }, isCancelled: isCancelled)
        // The source must still be the ordered content: a part of half-old, half-new content is worthless.
        try checkSource(sourcePath, is: order)
        guard let (size, checksum) = FileChecksum.of(partial) else {
            throw MediaError.ioFailure(path: partial.path, reason: "the segment just written cannot be read back")
        }
        try MediaError.mapping { () throws(FileError) in try DurableFile.install(partial, as: final) }
        return ProxyMadePart(
            number: number, fileName: name, sizeBytes: size, checksum: checksum, frameCount: result.frameCount,
            facts: SegmentFacts(result).json)
    }

    /// Whether a made part's file is as it was recorded (size and checksum). Blocking (reads the file).
    public func isWhole(_ part: ProxyMadePart, of order: ProxyWorkOrder) -> Bool {
        guard let (size, checksum) = FileChecksum.of(url(part.fileName, in: order)) else { return false }
        return size == part.sizeBytes && checksum == part.checksum
    }

    /// Deletes a part's file (a damaged one, or one its maker could not record).
    public func remove(fileName: String, of order: ProxyWorkOrder) {
        unlink(url(fileName, in: order).path)
    }

    /// Joins every part of `order` into the proxy (index at the front), installed by fsync and rename. The parts'
    /// folder goes once the proxy is in place. Throws `FarmPartsDamaged` naming the parts whose files are not as
    /// recorded: they are to be made again.
    public func join(_ order: ProxyWorkOrder, parts: [ProxyMadePart], sourcePath: String, isCancelled: () -> Bool) throws -> ProxyJoinedFile {
        let byNumber = Dictionary(parts.map { ($0.number, $0) }, uniquingKeysWith: { first, _ in first })
        let damaged = (0..<order.partCount).filter { number in byNumber[number].map { !isWhole($0, of: order) } ?? true }
        guard damaged.isEmpty else { throw ProxyPartsDamaged(parts: damaged) }
        let video = order.plan.segments.map { url(byNumber[$0.index]!.fileName, in: order).path }
        let audio = order.audioPart.map { url(byNumber[$0]!.fileName, in: order).path }
        let final = areaURL.appendingPathComponent(order.proxyFileName)
        let partial = areaURL.appendingPathComponent(order.proxyFileName + ".\(maker).partial")
        defer { unlink(partial.path) }
        let joined = try SegmentJoiner.join(
            videoSegments: video, audio: audio, frameRate: (order.plan.frameRateNumerator, order.plan.frameRateDenominator),
            sourcePath: sourcePath, output: partial.path, isCancelled: isCancelled)
        try MediaError.mapping { () throws(FileError) in try DurableFile.install(partial, as: final) }
        var info = stat()
        let size = stat(final.path, &info) == 0 ? Int64(info.st_size) : 0
        let facts = try SegmentFacts(json: byNumber[0]!.facts)
        _ = cache.removeFolder(named: order.folder, inArea: Self.area)
        return ProxyJoinedFile(
            relativePath: "\(Self.area)/\(order.proxyFileName)", sizeBytes: size, width: facts.width, height: facts.height,
            frameCount: joined.frameCount, durationSeconds: joined.durationSeconds, videoEncoder: facts.videoEncoder,
            hasAudio: audio != nil)
    }

    /// Fails unless the file at `sourcePath` is the content `order` was planned from.
    public func checkSource(_ sourcePath: String, is order: ProxyWorkOrder) throws {
        let current = try MediaError.mapping { () throws(FileError) in try SourceFingerprint.of(path: sourcePath) }
        guard current == order.fingerprint else {
            throw MediaError.corrupt(path: sourcePath, reason: "the source is not the content its proxy was ordered for (changed, or another file)")
        }
    }
}

/// Parts whose files are missing or not as recorded: they are made again before the proxy is joined.
public struct ProxyPartsDamaged: Error, Sendable, CustomStringConvertible {
    public var parts: [Int]
    public var description: String { "parts \(parts) are missing or damaged" }
}
