import Foundation
import Jobs
import Media
import Proxies
import Settings
import Waveforms

/// Imports files and folders: probes each file and queues its proxy (at the requested or default quality, below
/// every explicit request) and its waveform analysis (lower still), as the settings allow.
public struct MediaImporter: Sendable {
    public let proxies: ProxyService
    public let waveforms: WaveformService
    public let settings: ServerSettings
    /// Follows each proxy job queued or joined (the server's: `$/progress` on the job id token).
    let proxyListener: @Sendable () -> ProxyJobListener?
    /// Proxy jobs queued by an import wait behind explicit `generate` requests (priority 0).
    public static let proxyPriority = -1
    /// At most this many files per import (folders included).
    public static let maxFiles = 10_000

    public init(
        proxies: ProxyService, waveforms: WaveformService, settings: ServerSettings,
        proxyListener: @escaping @Sendable () -> ProxyJobListener? = { nil }
    ) {
        self.proxies = proxies
        self.waveforms = waveforms
        self.settings = settings
        self.proxyListener = proxyListener
    }

    /// The files `paths` name, folders expanded (their regular, non-hidden files, sorted; subfolders only when
    /// `recursive`), each once. A folder without files is reported as an item of its own.
    public static func expand(_ paths: [String], recursive: Bool) -> (files: [String], emptyFolders: [String]) {
        var files: [String] = []
        var seen = Set<String>()
        var empty: [String] = []
        let manager = FileManager.default
        for path in paths {
            let url = URL(fileURLWithPath: path).standardizedFileURL
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
                if seen.insert(url.path).inserted { files.append(url.path) }
                continue
            }
            var found: [String] = []
            let options: FileManager.DirectoryEnumerationOptions =
                recursive ? [.skipsHiddenFiles] : [.skipsHiddenFiles, .skipsSubdirectoryDescendants]
            if let walker = manager.enumerator(at: url, includingPropertiesForKeys: [.isRegularFileKey], options: options) {
                for case let entry as URL in walker {
                    guard (try? entry.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
                    found.append(entry.standardizedFileURL.path)
                    if found.count + files.count >= maxFiles { break }
                }
            }
            if found.isEmpty { empty.append(url.path) }
            for file in found.sorted() where seen.insert(file).inserted { files.append(file) }
        }
        return (Array(files.prefix(maxFiles)), empty)
    }

    /// Imports every file and folder of `paths`; one item per file (and per empty folder), in order.
    public func run(paths: [String], quality: ProxyQuality?, recursive: Bool) async -> [ImportItem] {
        // The walk (up to `maxFiles` entries) blocks on the file system: off the concurrency pool.
        let (files, emptyFolders) = (try? await BlockingQueue.run { Self.expand(paths, recursive: recursive) }) ?? ([], [])
        var items: [ImportItem] = []
        for file in files {
            items.append(await importFile(file, quality: quality ?? settings.defaultQuality))
        }
        for folder in emptyFolders {
            items.append(ImportItem(path: folder, status: .skipped, reason: "a folder without files"))
        }
        return items
    }

    private func importFile(_ path: String, quality: ProxyQuality) async -> ImportItem {
        var item = ImportItem(path: path, status: .imported)
        let info: MediaInfo
        do {
            info = try await BlockingQueue.run { try MediaProbe.probe(path: path) }
        } catch let error as MediaError {
            switch error {
            case .fileNotFound:
                item.status = .skipped
                item.reason = "missing"
            case .notMedia, .emptyFile:
                item.status = .skipped
                item.reason = "not media"
            case .notARegularFile:
                item.status = .skipped
                item.reason = "not a regular file"
            default:
                item.status = .failed
                item.reason = "cannot be read"
                item.error = error
            }
            return item
        } catch {
            item.status = .failed
            item.error = error
            return item
        }
        let hasVideo = info.primaryVideoStream != nil && !info.isStillImage
        let hasAudio = info.primaryAudioStream != nil
        item.kind = info.isStillImage ? "image" : hasVideo ? "video" : hasAudio ? "audio" : nil
        guard hasVideo || hasAudio else {
            item.status = .skipped
            item.reason = info.isStillImage ? "a still image: nothing to prepare" : "no video or audio stream"
            return item
        }
        var reasons: [String] = []
        if !hasVideo {
            item.proxy = .notApplicable
            reasons.append("audio only: waveform only")
        } else if !settings.proxyGenerationEnabled {
            item.proxy = .disabled
            reasons.append("proxy generation is disabled")
        } else {
            item.quality = quality
            do {
                let ticket = try await proxies.generate(
                    ProxyRequest(
                        sourcePath: path, quality: quality, scalePercent: settings.scalePercent,
                        priority: Self.proxyPriority, background: true),
                    listener: proxyListener())
                if ticket.status == .completed {
                    item.proxy = .fresh
                    reasons.append("proxy already fresh")
                } else {
                    item.proxy = ticket.joined ? .alreadyQueued : .queued
                    item.proxyJobId = ticket.jobId
                }
            } catch ProxyServiceError.notNeeded(let reason) {
                item.proxy = .notNeeded
                reasons.append("no proxy needed: \(reason)")
            } catch {
                item.status = .failed
                item.error = error
                return item
            }
        }
        if hasAudio {
            do {
                item.waveform = try await waveforms.prefetch(path: path, audioStreams: info.audioStreams.count) > 0 ? .queued : .fresh
                item.audioStreams = info.audioStreams.count
            } catch {
                item.status = .failed
                item.error = error
                return item
            }
        } else {
            item.waveform = .notApplicable
        }
        if !reasons.isEmpty { item.reason = reasons.joined(separator: "; ") }
        return item
    }
}
